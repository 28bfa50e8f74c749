"""metrics.json and both console tables, written from typed results, are byte for byte what the
code before `BenchmarkResult` wrote (golden/ was made by that code on the same result files)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from siamlightning.cli.eval import COLUMNS as EVAL_COLUMNS
from siamlightning.cli.train import TABLE_COLUMNS
from siamlightning.data.core.sequences import Sequence, SequenceIndex
from siamlightning.evaluation.benchmarks import score_folder
from siamlightning.evaluation.report import results_table, write_metrics_json
from siamlightning.evaluation.result import BenchmarkResult, Results
from siamlightning.evaluation.result_files import write_result
from siamlightning.evaluation.vot_reset_scoring import score_vot_folder
from siamlightning.metrics.regions import Special, write_regions

GOLDEN = Path(__file__).parent / "golden"
SEQ_A = [[10, 10, 10, 10], [10, 10, 10, 10], [15, 10, 10, 10], [30, 30, 10, 10]]
SEQ_B = [[5, 5, 8, 8]] * 3
GT = [10.0, 10.0, 10.0, 10.0]
EXACT, THIRD, HALF, FAR = GT, [15.0, 10, 10, 10], [10.0, 10, 10, 5], [80.0, 80, 5, 5]


def _ope_index() -> SequenceIndex:
    def seq(name: str, boxes: list, attrs: list[str]) -> Sequence:
        meta = {"width": 64, "height": 48, "attributes": attrs}
        return Sequence(name, [f"{name}{i}" for i in range(len(boxes))], np.array(boxes, float),
                        meta=meta)  # fmt: skip

    return SequenceIndex([seq("a", SEQ_A, ["OCC", "FM"]), seq("b", SEQ_B, ["FM"])], name="tiny")


def _write_ope(folder: Path, layout: str, runs: int) -> None:
    pred_a = np.array([[10, 10, 10, 10]] * 4, float)
    pred_b = np.array([[5, 5, 8, 8], [6, 5, 8, 8], [np.nan] * 4], float)
    for r in range(runs):
        for name, pred, t in (("a", pred_a, 0.01), ("b", pred_b, 0.02)):
            p = pred.copy()
            p[1:, 0] += r
            times = np.full(len(p), t) if r == 0 else None
            write_result(folder, name, p, layout=layout, run=r + 1, times=times)


def _vot_index() -> SequenceIndex:
    boxes = np.tile([10.0, 10.0, 20.0, 15.0], (30, 1))
    x, y, w, h = boxes.T
    poly = np.stack([x, y, x + w, y, x + w, y + h, x, y + h], axis=1)
    meta = {"width": 80, "height": 60}
    return SequenceIndex([Sequence("s", [f"f{i}" for i in range(30)], boxes, polygons=poly,
                                   meta=meta)])  # fmt: skip


def _write_vot(folder: Path) -> None:
    for k in (1, 2, 3):
        regions = [Special(1)]
        for f in range(1, 30):
            if f == 10:
                regions.append(Special(2))
            elif 10 < f < 15:
                regions.append(Special(0))
            elif f == 15:
                regions.append(Special(1))
            else:
                regions.append(np.array([10.0 + k * 0.5, 10, 20, 15]))
        write_regions(folder / "baseline" / "s" / f"s_{k:03d}.txt", regions)


def _anchor_index() -> SequenceIndex:
    def seq(name: str, n: int, anchors: list[int], absent: tuple[int, ...] = ()) -> Sequence:
        boxes = np.tile(GT, (n, 1))
        boxes[list(absent)] = np.nan
        meta = {"width": 100, "height": 100, "values": {"anchor": np.array(anchors, float)}}
        return Sequence(name, [f"{name}{i}" for i in range(n)], boxes, meta=meta)

    return SequenceIndex([seq("a", 12, [1] + [0] * 10 + [-1]),
                          seq("b", 6, [1, 0, 0, 1, 0, 0], absent=(5,))])  # fmt: skip


def _write_anchor(folder: Path) -> None:
    def run(name: str, anchor: int, regions: list) -> None:
        rows = [Special(1)] + [r if isinstance(r, Special) else np.array(r) for r in regions]
        write_regions(folder / "baseline" / name / f"{name}_{anchor:08d}.txt", rows)

    run("a", 0, [EXACT] * 11)
    run("a", 11, [HALF] + [FAR] * 10)
    run("b", 0, [THIRD, THIRD, HALF, HALF, EXACT])
    run("b", 3, [EXACT, Special(0)])


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Results:
    """OTB and LaSOT rules with attributes, GOT-10k with 3 runs, VOT2018 reset, VOT2020 anchors."""
    tmp = tmp_path_factory.mktemp("results")
    ope, vot, anchor = _ope_index(), _vot_index(), _anchor_index()
    _write_ope(tmp / "otb", "otb", 1)
    _write_ope(tmp / "got", "got10k", 3)
    _write_vot(tmp / "vot")
    _write_anchor(tmp / "anc")

    def score(folder: str, index: SequenceIndex, **spec: object) -> BenchmarkResult:
        return score_folder(tmp / folder, index, spec)

    return {
        "tiny": {"t": score("otb", ope), "static": score("otb", ope, protocol="lasot")},
        "got": {"t": score("got", ope, protocol="got10k")},
        "vot2018": {"t": score_vot_folder(tmp / "vot", vot, year=2018, interval=(2, 25))},
        "vot2020": {"t": score("anc", anchor, kind="vot_multistart", interval=[1, 14])},
    }


def test_metrics_json_is_unchanged(results: Results, tmp_path: Path) -> None:
    write_metrics_json(tmp_path / "metrics.json", results)
    got = (tmp_path / "metrics.json").read_text()
    want = (GOLDEN / "metrics.json").read_text()
    assert json.loads(got) == json.loads(want)  # same shape and values...
    assert got == want  # ...in the same key order


def test_train_table_is_unchanged(results: Results) -> None:
    table = results_table(
        {"tiny": results["tiny"]}, TABLE_COLUMNS, only_filled=True, no_speed=("static",)
    )
    assert table + "\n" == (GOLDEN / "train_table.txt").read_text()


def test_eval_tables_are_unchanged(results: Results) -> None:
    tables = [results_table({b: r}, EVAL_COLUMNS, only_filled=True) for b, r in results.items()]
    vot = {"vot2018": results["vot2018"]}
    failed = {"bad": "no trajectories"}
    tables.append(results_table(vot, EVAL_COLUMNS, only_filled=True, failed=failed,
                                failed_benchmark="vot2018"))  # fmt: skip
    tables.append(results_table({}, EVAL_COLUMNS, only_filled=True, failed={"bad": "missing"},
                                failed_benchmark="tiny"))  # fmt: skip
    assert "".join(t + "\n" for t in tables) == (GOLDEN / "eval_tables.txt").read_text()


def test_result_knows_its_kind_and_numbers(results: Results) -> None:
    otb, vot, anchor = results["tiny"]["t"], results["vot2018"]["t"], results["vot2020"]["t"]
    assert (otb.kind, vot.kind, anchor.kind) == ("ope", "vot", "vot_multistart")
    assert otb.value("fps") == otb.fps and vot.value("fps") is None
    assert len(otb.overall.curves["success"]) == 21 and set(otb.attributes) == {"FM", "OCC"}
    assert vot.eao_interval == (2, 25) and "eao_interval" not in vot.to_json()["overall"]
    assert anchor.to_json()["overall"]["eao_interval"] == [1, 14]
    assert 0 <= vot.robustness_fraction() <= 1 and anchor.robustness_fraction() == pytest.approx(
        anchor.value("robustness")
    )


def test_headline_is_the_score_each_benchmark_ranks_by(results: Results) -> None:
    otb, vot, anchor = results["tiny"]["t"], results["vot2018"]["t"], results["vot2020"]["t"]
    assert otb.headline() == ("success_auc", otb.value("success_auc"))
    assert vot.headline() == ("eao", vot.value("eao"))
    assert anchor.headline() == ("eao", anchor.value("eao"))
    from dataclasses import replace

    from siamlightning.evaluation.result import Scores

    got10k = replace(otb, protocol="got10k", overall=Scores(values={"ao": 0.4, "sr50": 0.5}))
    vos = replace(otb, kind="vos", overall=Scores(values={"jf_mean": 0.6, "j_mean": 0.5}))
    assert got10k.headline() == ("ao", 0.4) and vos.headline() == ("jf_mean", 0.6)

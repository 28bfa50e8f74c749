"""VOS scoring of DAVIS-layout PNG folders: hand-computed J&F per object, object-weighted means,
``results=`` through siamlightning-eval, the n_res > n_gt error and zero-padded objects."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_davis import labels_of
from test_vos_runner import BoxMaskTracker, spec_of, two_objects, write_davis

from siamlightning.cli import eval as eval_cli
from siamlightning.errors import DataError
from siamlightning.evaluation.benchmarks import open_benchmark, run_benchmark, score_folder
from siamlightning.evaluation.vos_videos import write_labels

# Object 2 moves 2f px right, the tracker keeps its frame-0 box (6 x 8): overlap 8 - 2f columns.
J2 = np.array([36 / 60, 24 / 72, 12 / 84])
# Boundary radius ceil(0.008 * |(20, 30)|) = 1 (a 3x3 cross). Both boundaries are 7 x 9 rings
# (28 px); shifted by s = 2f columns, each ring's top and bottom rows keep 9 - s + 1 px within
# one pixel of the other ring, and 2 of its 5 side pixels touch the other ring's rows: P = R.
F2 = np.array([18 / 28, 14 / 28, 10 / 28])


def _stats(v: np.ndarray) -> tuple[float, float, float]:
    """Mean, recall (> 0.5), decay of 3 frames: bins [0:2] and [2:3] (ids 0, 1, 1, 2, 2)."""
    return v.mean(), float(np.mean(v > 0.5)), v[:2].mean() - v[2]


@pytest.fixture
def davis(tmp_path: Path) -> tuple[Path, dict]:
    root = write_davis(tmp_path / "DAVIS", {"two": 5})
    return root, spec_of("davis2017_val", root)


def test_scores_equal_hand_computed_j_and_f(davis, tmp_path: Path) -> None:
    _, spec = davis
    index = open_benchmark(spec)
    result = run_benchmark({"fake": lambda: BoxMaskTracker([])}, index, spec, tmp_path / "o")
    r = result["fake"]
    j2, f2 = _stats(J2), _stats(F2)
    one = r.sequences["two_1"]
    keys = ("j_mean", "j_recall", "j_decay", "f_mean", "f_recall", "f_decay")
    assert [one[k] for k in keys] == [1, 1, 0, 1, 1, 0]
    two = r.sequences["two_2"]
    np.testing.assert_allclose([two[k] for k in keys], [*j2, *f2], rtol=0, atol=1e-12)
    assert two["num_frames"] == 3 and two["jf_mean"] == pytest.approx((j2[0] + f2[0]) / 2)
    v = r.overall.values  # object-weighted means
    np.testing.assert_allclose(
        [v["j_mean"], v["j_recall"], v["j_decay"], v["f_mean"], v["f_recall"], v["f_decay"]],
        [(1 + j2[0]) / 2, (1 + j2[1]) / 2, j2[2] / 2, (1 + f2[0]) / 2, (1 + f2[1]) / 2, f2[2] / 2],
        rtol=0,
        atol=1e-12,
    )
    assert v["jf_mean"] == pytest.approx((v["j_mean"] + v["f_mean"]) / 2, abs=1e-12)
    assert r.to_json()["overall"]["jf_mean"] == v["jf_mean"]


def _write(folder: Path, frames: dict[int, np.ndarray]) -> Path:
    for f, labels in frames.items():
        write_labels(folder / "two" / f"{f:05d}.png", labels)
    return folder


def test_other_methods_folder_errors_and_padding(davis, tmp_path: Path) -> None:
    _, spec = davis
    index = open_benchmark(spec)
    gt = {f: labels_of(two_objects(f)) for f in range(1, 4)}  # frames 0 and 4 are not read
    perfect = score_folder(_write(tmp_path / "perfect", gt), index, spec)
    assert perfect.overall.values["jf_mean"] == 1 and perfect.value("num_objects") == 2
    # only object 1 in the results: object 2 is an empty mask (J = F = 0 on every frame)
    only1 = {f: np.where(m == 1, m, 0).astype(np.uint8) for f, m in gt.items()}
    padded = score_folder(_write(tmp_path / "only1", only1), index, spec)
    assert padded.sequences["two_2"]["j_mean"] == 0 and padded.sequences["two_2"]["f_mean"] == 0
    assert padded.overall.values["jf_mean"] == pytest.approx(0.5)
    # a label 3 with 2 objects in the ground truth: an error naming the sequence and the file
    extra = dict(gt)
    extra[2] = gt[2].copy()
    extra[2][0, 0] = 3
    with pytest.raises(DataError, match=r"00002\.png.*'two'.*label 3.*2 object"):
        score_folder(_write(tmp_path / "extra", extra), index, spec)
    (tmp_path / "perfect" / "two" / "00003.png").unlink()
    with pytest.raises(DataError, match=r"00003\.png: no result for sequence 'two' frame 00003"):
        score_folder(tmp_path / "perfect", index, spec)


def test_davis2016_reads_any_nonzero_result_pixel(tmp_path: Path) -> None:
    root = write_davis(tmp_path / "DAVIS", {"two": 4}, void=False)
    spec = spec_of("davis2016_val", root)
    index = open_benchmark(spec)
    for f in (1, 2):  # 0/255 grey PNGs, as 2016 methods write them
        path = tmp_path / "grey" / "two" / f"{f:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), (labels_of(two_objects(f)) > 0).astype(np.uint8) * 255)
    r = score_folder(tmp_path / "grey", index, spec)
    assert r.value("num_objects") == 1 and r.overall.values["jf_mean"] == 1


def test_eval_cli_scores_a_results_folder(
    davis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    root, _ = davis
    gt = {f: labels_of(two_objects(f)) for f in range(1, 4)}
    gt[3] = labels_of({1: two_objects(3)[1], 2: two_objects(0)[2]})  # object 2 left behind
    folder = _write(tmp_path / "method", gt)
    args = [f"results={folder}", "benchmark=davis2017_val", f"benchmark.root={root}"]
    monkeypatch.chdir(tmp_path)  # siamlightning-eval in-process, as the console script runs it
    monkeypatch.setattr(sys, "argv", ["siamlightning-eval", *args, "hydra.run.dir=run"])
    eval_cli.main()
    out = capsys.readouterr().out
    assert "jf_mean" in out and "two_2" in out  # global and per-object tables
    report = json.loads((tmp_path / "run" / "metrics.json").read_text())["davis2017_val"]["method"]
    j2 = np.array([1, 1, J2[2]])
    assert report["sequences"]["two_2"]["j_mean"] == pytest.approx(j2.mean(), abs=1e-12)
    assert report["overall"]["num_objects"] == 2 and report["fps"] is None

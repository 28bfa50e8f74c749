"""Result folders as published: any case / separator spelling, nested layouts, one bad folder of
several, same-named folders, missing and empty folders (issue 8 items 1, 2 and 8's results part)."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from helpers import run_cli

from siamlightning.data import open_dataset
from siamlightning.data.core.sequences import Sequence, SequenceIndex
from siamlightning.data.tools.writers import write_otb
from siamlightning.errors import DataError
from siamlightning.evaluation.ope import score_ope
from siamlightning.evaluation.result_files import read_results, write_result
from siamlightning.evaluation.vot_reset_scoring import score_vot_folder

# OTB names and how other toolkits spell their files (pysot, pytracking, DaSiamRPN...)
WILD = {
    "BlurBody": "blurBody.txt",
    "CarDark": "carDark.txt",
    "Human4-2": "human4_2.txt",
    "Jogging-1": "jogging_1.txt",
    "Skating2-1": "Skating2-1.txt",
}
N = 12


def _otb_index() -> SequenceIndex:
    rng = np.random.default_rng(8)
    seqs = []
    for name in WILD:
        boxes = np.round(rng.uniform(5, 60, (N, 4)) * 4) / 4  # exact in %.4f and %.6e alike
        seqs.append(Sequence(name, [f"{name}/{i}.jpg" for i in range(N)], boxes))
    return SequenceIndex(seqs, name="otb")


def _published_text(boxes: np.ndarray, k: int) -> str:
    """What real result files hold: tabs, spaces, trailing commas, CRLF, 1e+01, blank tail."""
    seps = ["\t", " ", ",", ", "]
    rows = [seps[k % 4].join(f"{v:.6e}" for v in b) + ("," if k % 2 else "") for b in boxes]
    return "\r\n".join(rows) + "\r\n\r\n  \n"


def test_renamed_files_score_exactly_what_canonical_names_score(tmp_path):
    index = _otb_index()
    preds = {s.name: s.boxes + np.array([1.0, -0.5, 0.25, 0.0]) for s in index}
    for k, seq in enumerate(index):
        write_result(tmp_path / "canonical", seq.name, preds[seq.name])
        (tmp_path / "wild").mkdir(exist_ok=True)
        (tmp_path / "wild" / WILD[seq.name]).write_text(_published_text(preds[seq.name], k))
    canon = score_ope(read_results(tmp_path / "canonical", index), index).overall.values
    wild = score_ope(read_results(tmp_path / "wild", index), index).overall.values
    assert wild["success_auc"] == canon["success_auc"]
    assert wild["precision_20"] == canon["precision_20"]
    assert canon["success_auc"] > 0.3


def _got10k_named(tmp_path, files: dict[str, str]) -> tuple[SequenceIndex, dict]:
    """Sequences Human4-2, Jogging-1, Jogging-2 and result files named as ``files`` says."""
    rng = np.random.default_rng(3)
    names = ["Human4-2", "Jogging-1", "Jogging-2"]
    boxes = {n: np.round(rng.uniform(5, 60, (N, 4)), 2) for n in names}
    seqs = [Sequence(n, [f"{n}/{i}.jpg" for i in range(N)], boxes[n]) for n in names]
    index = SequenceIndex(seqs)
    for name, file in files.items():
        np.savetxt(tmp_path / file, boxes[name], fmt="%.2f", delimiter=",")
    return index, boxes


def test_got10k_toolkit_names_are_found(tmp_path):
    """got10k's toolkit writes Jogging.1.txt, and Human4.txt for Human4's only target."""
    files = {"Human4-2": "Human4.txt", "Jogging-1": "Jogging.1.txt", "Jogging-2": "Jogging.2.txt"}
    index, boxes = _got10k_named(tmp_path, files)
    res = read_results(tmp_path, index)
    for name in boxes:
        np.testing.assert_array_equal(res[name].boxes, boxes[name])


def test_a_video_name_is_not_read_as_one_of_its_two_targets(tmp_path):
    files = {"Human4-2": "Human4.txt", "Jogging-1": "Jogging.txt", "Jogging-2": "Jogging.2.txt"}
    index, _ = _got10k_named(tmp_path, files)
    with pytest.raises(DataError, match=r"no result file for sequence 'Jogging-1'"):
        read_results(tmp_path, index)


def test_two_spellings_of_one_sequence_name_both(tmp_path):
    index = _otb_index()
    for seq in index:
        write_result(tmp_path, seq.name, seq.boxes)
    (tmp_path / "human4_2.txt").write_text((tmp_path / "Human4-2.txt").read_text())
    with pytest.raises(DataError, match=r"2 files match sequence 'Human4-2': Human4-2\.txt and "):
        read_results(tmp_path, index)
    with pytest.raises(DataError, match=r"human4_2\.txt"):
        read_results(tmp_path, index)


def test_nested_layouts_match_any_spelling(tmp_path):
    index = _otb_index()
    for seq in index:  # GOT-10k toolkit layout, folders and files spelt as pysot does
        d = tmp_path / "got" / seq.name.lower().replace("-", "_")
        d.mkdir(parents=True)
        for run in (1, 2):
            np.savetxt(d / f"{d.name}_{run:03d}.txt", seq.boxes + run, fmt="%.2f", delimiter=",")
    res = read_results(tmp_path / "got", index)
    np.testing.assert_array_equal(res["Human4-2"].boxes, index["Human4-2"].boxes + 1)
    np.testing.assert_array_equal(res["Human4-2"].repeats[0], index["Human4-2"].boxes + 2)


BAG = ["1"] + ["10,10,20,15"] * 5 + ["2", "0", "0", "0", "0", "1"] + ["11,10,20,15"] * 8
BAG_FLOAT = [f"{float(c):.1f}" if "," not in c else c for c in BAG]  # 1.0 / 2.0 / 0.0


@pytest.mark.parametrize(
    ("folder", "file", "lines"),
    [
        ("bag", "bag", BAG_FLOAT),  # float codes, folder in another case
        ("Bag", "bag", BAG),  # run files spelled unlike their folder
        ("BAG", "Bag", BAG_FLOAT),
    ],
)
def test_vot_folder_in_the_wild_scores_like_the_plain_one(tmp_path, folder, file, lines):
    n = len(BAG)
    boxes = np.tile([10.0, 10.0, 20.0, 15.0], (n, 1))
    seq = Sequence("Bag", [f"f{i}" for i in range(n)], boxes, meta={"width": 64, "height": 48})
    index = SequenceIndex([seq])
    for root, d, stem, codes in (("plain", "Bag", "Bag", BAG), ("wild", folder, file, lines)):
        run_dir = tmp_path / root / "baseline" / d
        run_dir.mkdir(parents=True)
        for run in (1, 2, 3):
            (run_dir / f"{stem}_{run:03d}.txt").write_text("\n".join(codes))
    plain = score_vot_folder(tmp_path / "plain", index, interval=(2, 15)).overall
    wild = score_vot_folder(tmp_path / "wild", index, interval=(2, 15)).overall
    assert wild == plain and wild.values["failures"] == 1.0


def test_missing_or_empty_results_folder_says_so(tmp_path):
    index = _otb_index()
    with pytest.raises(DataError, match=r"nope: results folder does not exist"):
        read_results(tmp_path / "nope", index)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"empty: results folder is empty \(expected <seq>\.txt"):
        read_results(tmp_path / "empty", index)
    with pytest.raises(DataError, match=r"empty: results folder is empty"):
        score_vot_folder(tmp_path / "empty", index)
    write_result(tmp_path / "one", "BlurBody", index["BlurBody"].boxes)
    with pytest.raises(DataError, match=r"no result file for sequence 'CarDark'"):
        read_results(tmp_path / "one", index)


def test_same_basename_folders_get_distinct_labels():
    from siamlightning.evaluation.report import folder_labels

    assert folder_labels(["/r/runs/a/res", "/r/runs/b/res", "/r/x"]) == ["a/res", "b/res", "x"]
    assert folder_labels(["/r/res", "/r/res"]) == ["res", "res (2)"]


def test_cli_one_bad_folder_hides_no_other(tmp_path):
    index = open_dataset("synthetic", None, seed=3, num_sequences=2, length=8)
    root = write_otb(index, tmp_path / "OTB")
    names = open_dataset("otb", root).names
    good = {s.name: np.nan_to_num(s.boxes, nan=1.0) + 2.0 for s in open_dataset("otb", root)}
    a, b, c = (tmp_path / "runs" / x / "res" for x in "abc")
    for name in names:
        write_result(a, name, good[name])
        write_result(b, name.upper(), good[name])  # another spelling: scores the same
        write_result(c, name, good[name][: 5 if name == names[1] else None])  # one short file
    out = run_cli(
        "eval",
        f"results=[{a},{b},{c}]",
        "benchmark=otb",
        f"benchmark.root={root}",
        "progress=false",
        f"hydra.run.dir={tmp_path}/run",
        cwd=tmp_path,
        check=False,
    )
    assert out.returncode == 1, out.stderr[-3000:]
    rep = json.loads((tmp_path / "run" / "metrics.json").read_text())["otb"]
    assert sorted(rep) == ["a/res", "b/res"]
    assert rep["a/res"]["overall"]["success_auc"] == rep["b/res"]["overall"]["success_auc"]
    table = out.stdout[out.stdout.index("name") :]
    assert "otb/a/res" in table and "otb/b/res" in table
    row = next(r for r in table.splitlines() if r.startswith("otb/c/res "))
    assert row.endswith(f"FAILED: {c / names[1]}.txt: 5 lines but the sequence has 8 frames")
    assert "1 of 3 result folders could not be scored" in out.stderr

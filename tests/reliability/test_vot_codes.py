"""VOT trajectory codes: every bad code is a DataError naming file, line and value; the patterns
the official runners write (votchallenge toolkit, toolkit-legacy, pysot) score as before."""

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from helpers import run_cli

from siamlightning.data.core.sequences import Sequence, SequenceIndex
from siamlightning.errors import DataError
from siamlightning.evaluation.vot_anchor_scoring import score_vot_multistart_folder
from siamlightning.evaluation.vot_reset_scoring import score_vot_folder

N = 30
BOX = "10,10,20,15"


def _index() -> SequenceIndex:
    boxes = np.tile([10.0, 10.0, 20.0, 15.0], (N, 1))
    meta = {"width": 80, "height": 60}
    return SequenceIndex([Sequence("s", [f"f{i}" for i in range(N)], boxes, meta=meta)])


def _write(folder, lines):
    run = folder / "baseline" / "s"
    run.mkdir(parents=True, exist_ok=True)
    (run / "s_001.txt").write_text("\n".join(lines) + "\n")
    return folder


def _lines(*pattern: str) -> list[str]:
    """``pattern`` then regions up to N lines."""
    return [*pattern] + [BOX] * (N - len(pattern))


BAD = {
    "minus_one": (_lines("1", BOX, "-1"), 3, "trajectory code -1"),
    "seven": (_lines("1", BOX, BOX, "7"), 4, "trajectory code 7"),
    "stray_zero": (_lines("1", BOX, "0"), 3, "0 (unknown) while tracking"),
    "failure_on_init": (_lines("2", "0", "0", "0", "0", "1"), 1, "first line must be 1"),
    "region_on_init": (_lines(BOX), 1, "first line must be 1 (initialisation), got a region"),
    "init_without_failure": (_lines("1", BOX, "1"), 3, "1 (re-initialisation) with no failure"),
    "region_in_skip": (_lines("1", BOX, "2", "0", BOX), 5, "a region after the failure on line 3"),
    "failure_in_skip": (_lines("1", "2", "0", "2"), 4, "2 after the failure on line 2"),
    "non_integer": (_lines("1", BOX, "1.5"), 3, "special code (0, 1 or 2 in trajectories)"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_code_is_a_data_error_with_file_line_value(tmp_path, case):
    lines, line, fragment = BAD[case]
    folder = _write(tmp_path / "res", lines)
    with pytest.raises(DataError) as err:
        score_vot_folder(folder, _index(), year=2018, interval=(2, 10))
    assert f"s_001.txt:{line}: " in str(err.value)
    assert fragment in str(err.value)


TOLERATED = {  # pattern -> failures; each is what one official runner writes
    "five_frame_skip": (_lines("1", BOX, "2", "0", "0", "0", "0", "1"), 1),
    "reinit_right_after_failure": (_lines("1", BOX, "2", "1"), 1),  # skip_initialize = 1
    "longer_skip": (_lines("1", "2", "0", "0", "0", "0", "0", "0", "0", "1"), 1),  # skip_tags
    "fail_right_after_init": (_lines("1", "2", "0", "0", "0", "0", "1", "2", "1"), 2),
    "ends_in_zeros": ([*_lines("1")[: N - 3], "2", "0", "0"], 1),
    "ends_in_failure": ([*_lines("1")[: N - 1], "2"], 1),
    "float_codes": (_lines("1.0", BOX, "2.0", "0.0", "0.0", "0.0", "0.0", "1.0"), 1),
}


@pytest.mark.parametrize("case", list(TOLERATED))
def test_official_patterns_score(tmp_path, case):
    lines, failures = TOLERATED[case]
    assert len(lines) == N
    rep = score_vot_folder(_write(tmp_path / "res", lines), _index(), interval=(2, 10))
    o = rep.overall.values
    assert o["failures"] == failures
    assert o["accuracy"] == 1.0  # every region is the GT rectangle
    assert np.isfinite(o["eao"]) and 0 < o["eao"] <= 1


@pytest.mark.parametrize("variant", ["legacy", "pysot", "votpy"])
def test_nan_region_while_tracking_scores_as_overlap_0_and_is_reported(tmp_path, variant, caplog):
    """pysot's toolkit scores a NaN region as overlap 0; so do we, counted in a warning."""
    far = "60,45,5,5"  # no overlap with the GT rectangle
    head = ("1", *[BOX] * 14)  # past the accuracy burn-in after the initialisation
    nan = _lines(*head, "nan,nan,nan,nan", BOX, "NaN,NaN,NaN,NaN", "2", "0", "0", "0", "0", "1")
    zero = [far if v.lower().startswith("nan") else v for v in nan]
    kw = {"variant": variant, "interval": (2, 10)}
    with caplog.at_level("WARNING", logger="siamlightning.metrics.vot_reset"):
        a = score_vot_folder(_write(tmp_path / "nan", nan), _index(), **kw).overall.values
    b = score_vot_folder(_write(tmp_path / "zero", zero), _index(), **kw).overall.values
    assert a["accuracy"] == b["accuracy"] < 1.0
    assert a["eao"] == b["eao"] and a["failures"] == b["failures"] == 1
    assert "s_001.txt:16: 2 region(s) with NaN values while tracking, scored as overlap 0" in (
        caplog.text
    )


def test_nan_region_in_the_skip_is_an_unknown_frame(tmp_path):
    skip = _lines("1", BOX, "2", "nan,nan,nan,nan", "0", "0", "0", "1")
    plain = _lines("1", BOX, "2", "0", "0", "0", "0", "1")
    a = score_vot_folder(_write(tmp_path / "a", skip), _index(), interval=(2, 10))
    b = score_vot_folder(_write(tmp_path / "b", plain), _index(), interval=(2, 10))
    assert a.overall == b.overall


def test_blank_tail_and_byte_order_mark_score_as_the_plain_file(tmp_path):
    lines = _lines("1", BOX, "2", "0", "0", "0", "0", "1")
    plain = score_vot_folder(_write(tmp_path / "a", lines), _index(), interval=(2, 10))
    run = _write(tmp_path / "b", lines) / "baseline" / "s" / "s_001.txt"
    run.write_text("\ufeff" + "\r\n".join(lines) + "\r\n\r\n  \n", encoding="utf-8")
    assert score_vot_folder(tmp_path / "b", _index(), interval=(2, 10)) == plain


def test_blank_line_between_regions_is_an_error(tmp_path):
    lines = _lines("1", BOX, "", BOX)
    with pytest.raises(DataError, match=r"s_001\.txt:3: empty line; expected a region"):
        score_vot_folder(_write(tmp_path / "r", lines), _index(), interval=(2, 10))


def test_float_codes_score_as_integer_codes(tmp_path):
    ints = _lines("1", BOX, "2", "0", "0", "0", "0", "1", BOX, BOX, "2", "0", "0", "0", "0", "1")
    floats = [v + ".0" if v in "012" else v for v in ints]
    a = score_vot_folder(_write(tmp_path / "i", ints), _index(), interval=(2, 10))
    b = score_vot_folder(_write(tmp_path / "f", floats), _index(), interval=(2, 10))
    assert a.overall == b.overall and a.value("failures") == 2


@pytest.mark.parametrize("variant", ["legacy", "pysot", "votpy"])
def test_every_variant_validates(tmp_path, variant):
    folder = _write(tmp_path / "res", _lines("1", BOX, "-1"))
    with pytest.raises(DataError, match=r"s_001\.txt:3: trajectory code -1"):
        score_vot_folder(folder, _index(), variant=variant, interval=(2, 10))


def _anchor_index() -> SequenceIndex:
    seq = _index()[0]
    values = {"anchor": np.r_[1.0, np.zeros(N - 1)]}
    return SequenceIndex(
        [Sequence("s", seq.frames, seq.boxes, meta={**seq.meta, "values": values})]
    )


@pytest.mark.parametrize(
    ("lines", "line", "fragment"),
    [
        (["1", BOX, "2"], 3, "trajectory code 2 in an anchor-based"),
        (["1", BOX, "-1"], 3, "trajectory code -1 in an anchor-based"),
        (["1", BOX, "1"], 3, "trajectory code 1 in an anchor-based"),
        ([BOX, BOX, BOX], 1, "first line must be 1"),
    ],
)
def test_anchor_runs_validate_codes(tmp_path, lines, line, fragment):
    run = tmp_path / "res" / "baseline" / "s"
    run.mkdir(parents=True)
    (run / "s_00000000.txt").write_text("\n".join(lines + [BOX] * (N - len(lines))) + "\n")
    with pytest.raises(DataError) as err:
        score_vot_multistart_folder(tmp_path / "res", _anchor_index(), interval=(2, 10))
    assert f"s_00000000.txt:{line}: " in str(err.value) and fragment in str(err.value)


def test_anchor_run_with_unknown_outputs_scores(tmp_path):
    run = tmp_path / "res" / "baseline" / "s"
    run.mkdir(parents=True)
    (run / "s_00000000.txt").write_text("\n".join(["1", "0", "0.0"] + [BOX] * (N - 3)) + "\n")
    rep = score_vot_multistart_folder(tmp_path / "res", _anchor_index(), interval=(2, 10))
    assert 0 < rep.value("accuracy") < 1


def _vot_tree(root):
    (root / "s" / "color").mkdir(parents=True)
    (root / "list.txt").write_text("s\n")
    for i in range(1, N + 1):
        cv2.imwrite(str(root / "s" / "color" / f"{i:08d}.jpg"), np.zeros((60, 80, 3), np.uint8))
    (root / "s" / "groundtruth.txt").write_text("\n".join([BOX] * N) + "\n")
    return root


def _eval_vot(tmp_path, lines, **kw):
    """``siamlightning-eval`` of one trajectory ``lines`` on a one-sequence VOT tree (run dir
    ``tmp_path/run``)."""
    root = _vot_tree(tmp_path / "vot")
    folder = _write(tmp_path / "res", lines)
    args = (f"results={folder}", "benchmark=vot", f"benchmark.root={root}")
    return run_cli("eval", *args, f"hydra.run.dir={tmp_path}/run", cwd=tmp_path, **kw)


# the CLI path is the same for every bad code (each is checked in-process above); the other
# two CLI runs are slow (6 s each)
@pytest.mark.parametrize(
    ("case", "line", "value"),
    [
        ("minus_one", 3, "-1"),
        pytest.param("stray_zero", 3, "0 (unknown", marks=pytest.mark.slow),
        pytest.param("seven", 4, "7", marks=pytest.mark.slow),
    ],
)
def test_cli_bad_code_exits_1_naming_file_line_value(tmp_path, case, line, value):
    out = _eval_vot(tmp_path, BAD[case][0], check=False, env={"HYDRA_FULL_ERROR": None})
    text = out.stdout + out.stderr
    assert out.returncode == 1, text[-2000:]
    assert f"s_001.txt:{line}: " in text and value in text


def test_cli_good_folder_still_scores(tmp_path):
    _eval_vot(tmp_path, TOLERATED["ends_in_zeros"][0])
    rep = json.loads((tmp_path / "run" / "metrics.json").read_text())["vot"]
    assert next(iter(rep.values()))["overall"]["failures"] == 1

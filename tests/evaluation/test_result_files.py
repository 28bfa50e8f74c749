"""Result files: round trip, delimiters, errors that name the file and the line, every layout."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from siamlightning.data import open_dataset
from siamlightning.errors import DataError
from siamlightning.evaluation.result_files import (
    detect_layout,
    find_result_file,
    read_ope_result,
    read_results,
    read_times,
    write_ope_result,
    write_result,
    write_times,
    write_trackingnet_submission,
)


def test_round_trip_with_nan(tmp_path: Path) -> None:
    boxes = np.array([[1.0, 2.0, 3.0, 4.0], [np.nan] * 4, [10.123456, 0.5, 7.25, 1e3]])
    path = tmp_path / "sub" / "Basketball.txt"
    write_ope_result(path, boxes)
    assert path.read_text().splitlines() == [
        "1.0000,2.0000,3.0000,4.0000",
        "nan,nan,nan,nan",
        "10.1235,0.5000,7.2500,1000.0000",
    ]
    back = read_ope_result(path, expected_len=3)
    assert back.dtype == np.float64 and back.shape == (3, 4)
    np.testing.assert_allclose(back, boxes, atol=5e-5)  # equal_nan by default


@pytest.mark.parametrize(
    "text", ["1,2,3,4\n5,6,7,8\n", "1\t2\t3\t4\n5\t6\t7\t8", "1 2  3 4\r\n5, 6, 7, 8\n\n\n"]
)
def test_delimiters(tmp_path: Path, text: str) -> None:
    path = tmp_path / "a.txt"
    path.write_text(text)
    assert read_ope_result(path).tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]


def test_wrong_value_count_names_path_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("1,2,3,4\n1,2,3\n")
    with pytest.raises(DataError, match=r"bad\.txt:2: expected 4 values") as info:
        read_ope_result(path)
    assert info.value.path == str(path) and info.value.line == 2


def test_non_numeric_names_value_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("1,2,3,4\n1,2,3,4\n1,abc,3,4\n")
    with pytest.raises(DataError, match=r"bad\.txt:3: non-numeric value 'abc'"):
        read_ope_result(path)


def test_blank_line_inside_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "gap.txt"
    path.write_text("1,2,3,4\n\n1,2,3,4\n")
    with pytest.raises(DataError, match=r"gap\.txt:2: expected 4 values \(x,y,w,h\), got 0"):
        read_ope_result(path)


def test_length_mismatch_names_both_counts(tmp_path: Path) -> None:
    path = tmp_path / "short.txt"
    write_ope_result(path, np.ones((3, 4)))
    with pytest.raises(DataError, match=r"short\.txt: 3 lines but the sequence has 5 frames"):
        read_ope_result(path, expected_len=5)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.txt: result file not found"):
        read_ope_result(tmp_path / "nope.txt")


def test_times_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "times" / "a_time.txt"
    write_times(path, np.array([0.5, 0.001234, 0.02]))
    assert read_times(path, expected_len=3).tolist() == [0.5, 0.001234, 0.02]
    with pytest.raises(DataError, match="3 lines but the sequence has 2 frames"):
        read_times(path, expected_len=2)


def test_write_rejects_bad_shape(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        write_ope_result(tmp_path / "x.txt", np.zeros((3, 5)))


@pytest.fixture(scope="module")
def index():
    return open_dataset("synthetic", None, seed=4, num_sequences=2, length=6)


@pytest.mark.parametrize("layout", ["otb", "got10k", "vot"])
def test_write_then_read_every_layout(tmp_path, index, layout):
    for seq in index:
        write_result(
            tmp_path,
            seq.name,
            np.nan_to_num(seq.boxes),
            layout=layout,
            times=np.full(len(seq), 0.01),
        )
    assert detect_layout(tmp_path) == layout
    res = read_results(tmp_path, index)
    for seq in index:
        np.testing.assert_allclose(res[seq.name].boxes, np.nan_to_num(seq.boxes), atol=1e-4)
        if layout != "vot":
            assert res[seq.name].fps == pytest.approx(100.0)


def test_pysot_two_target_naming(tmp_path):
    (tmp_path / "jogging_1.txt").write_text("1,2,3,4\n")
    assert find_result_file(tmp_path, "Jogging-1").name == "jogging_1.txt"


def test_missing_file_lists_what_was_tried(tmp_path):
    (tmp_path / "Bolt.txt").write_text("1,2,3,4\n")
    with pytest.raises(DataError, match=r"Basketball.*tried Basketball\.txt"):
        find_result_file(tmp_path, "Basketball")


def test_trackingnet_submission_zip(tmp_path):
    z = write_trackingnet_submission(tmp_path / "sub", {"a": np.ones((3, 4)), "b": np.ones((2, 4))})
    assert sorted(zipfile.ZipFile(z).namelist()) == ["a.txt", "b.txt"]

import zipfile

import numpy as np
import pytest

from siamlightning.data import open_dataset
from siamlightning.errors import DataError
from siamlightning.evaluation.formats import (
    detect_layout,
    find_result_file,
    read_results,
    write_result,
    write_trackingnet_submission,
)


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

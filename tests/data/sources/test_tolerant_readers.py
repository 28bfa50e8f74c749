"""Readers of training sets: strict by default (evaluation), tolerant per sequence for training."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from siamlightning.data import open_dataset
from siamlightning.data.pairs.datamodule import SourceSpec
from siamlightning.data.tools.writers import write_got10k, write_lasot
from siamlightning.errors import DataError


@pytest.fixture
def synth():
    return open_dataset("synthetic", None, seed=21, num_sequences=3, length=6, width=64, height=48)


def _break_row(path: Path, row: int) -> None:
    lines = path.read_text().splitlines()
    lines[row] = "12,abc,3,4"
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("layout", ["got10k", "lasot"])
def test_a_broken_annotation_row_fails_strict_and_is_skipped_for_training(tmp_path, synth, layout):
    if layout == "got10k":
        root = write_got10k(synth, tmp_path / "d", split="train")
        gt = root / "train" / synth.names[1] / "groundtruth.txt"
    else:
        root = write_lasot(synth, tmp_path / "d")
        gt = next((root).rglob(f"{synth.names[1]}/groundtruth.txt"))
    _break_row(gt, 3)
    with pytest.raises(DataError, match=rf"{gt.name}:4"):
        open_dataset(layout, root, "train" if layout == "got10k" else None, cache=False)
    with pytest.warns(UserWarning, match=rf"skipped 1 sequence.*{gt.name}:4"):
        ix = open_dataset(layout, root, "train" if layout == "got10k" else None, cache=False,
                          strict=False)  # fmt: skip
    assert sorted(ix.names) == sorted(n for n in synth.names if n != synth.names[1])
    spec = SourceSpec(name=layout, root=str(root), split="train" if layout == "got10k" else None,
                      options={"cache": False})  # fmt: skip
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert len(spec.open()) == 2  # training: strict=False unless the options say otherwise
    assert any("skipped 1 sequence" in str(w.message) for w in seen)
    spec.options["strict"] = True
    with pytest.raises(DataError):
        spec.open()

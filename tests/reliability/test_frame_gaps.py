"""Issue 8 item 6: a gap in frame numbering never shifts boxes onto the wrong frames.

Each folder below has as many images as annotation lines, but its numbering skips a frame and
holds one more at the end (``0050`` missing, ``0121`` present): readers that pair listed frames
with lines by position must refuse it, naming the folder, the first missing frame and the first
frame after the gap; ``siamlightning-prep check`` reports every problem of a dataset in one run.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from helpers import run_cli

from siamlightning.data import open_dataset
from siamlightning.errors import DataError

GAP = [*range(1, 50), *range(51, 122)]  # 120 frames, 0050 missing, 0121 present


def _frames(folder: Path, numbers: list[int], fmt: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in numbers:
        (folder / (fmt % i)).write_bytes(b"x")  # never decoded: the check only lists names


def _lines(path: Path, n: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("10,10,20,20\n" * n)


def _got10k(root: Path, names: dict[str, list[int]], listed: list[str] | None = None) -> Path:
    for name, numbers in names.items():
        _frames(root / "train" / name, numbers, "%08d.jpg")
        _lines(root / "train" / name / "groundtruth.txt", len(numbers))
    (root / "train" / "list.txt").write_text("\n".join(listed or list(names)) + "\n")
    return root


def test_otb_gap_is_an_error_naming_folder_missing_and_next_frame(tmp_path: Path) -> None:
    _frames(tmp_path / "Car" / "img", GAP, "%04d.jpg")
    _lines(tmp_path / "Car" / "groundtruth_rect.txt", 120)
    with pytest.raises(DataError) as err:
        open_dataset("otb", tmp_path)
    assert str(err.value) == (
        f"{tmp_path / 'Car' / 'img'}: frame numbering has a gap: 0050.jpg is missing and the "
        "next frame present is 0051.jpg (frames 0001.jpg to 0120.jpg expected without gaps); "
        "frames and annotation lines would be misaligned"
    )


def test_otb_official_ranges_start_where_otb_starts(tmp_path: Path) -> None:
    _frames(tmp_path / "David" / "img", list(range(1, 771)), "%04d.jpg")  # as distributed
    _lines(tmp_path / "David" / "groundtruth_rect.txt", 471)
    _frames(tmp_path / "Tiger1" / "img", list(range(6, 355)), "%04d.jpg")  # 349 from 0006
    _lines(tmp_path / "Tiger1" / "groundtruth_rect.txt", 349)
    ix = open_dataset("otb", tmp_path, frame_ranges={"Tiger1": (6, 354)})
    only = tmp_path / "only" / "David"  # a copy holding just the annotated frames 0300-0770
    _frames(only / "img", list(range(300, 771)), "%04d.jpg")
    _lines(only / "groundtruth_rect.txt", 471)
    assert len(open_dataset("otb", only.parent)["David"]) == 471
    assert [Path(ix["David"].frames[k]).name for k in (0, -1)] == ["0300.jpg", "0770.jpg"]
    assert [Path(ix["Tiger1"].frames[k]).name for k in (0, -1)] == ["0006.jpg", "0354.jpg"]
    (tmp_path / "David" / "img" / "0400.jpg").unlink()
    (tmp_path / "David" / "img" / "0771.jpg").write_bytes(b"x")  # count back to 471 in range
    _lines(tmp_path / "David" / "groundtruth_rect.txt", 471)
    with pytest.raises(DataError, match=r"0400\.jpg is missing and the next frame present is 0401"):
        open_dataset("otb", tmp_path, frame_ranges={"David": (300, 771)})


def test_vot_and_nfs_gaps(tmp_path: Path) -> None:
    vot = tmp_path / "vot"
    _frames(vot / "ball" / "color", GAP, "%08d.jpg")
    _lines(vot / "ball" / "groundtruth.txt", 120)
    (vot / "list.txt").write_text("ball\n")
    with pytest.raises(DataError, match=r"color: frame numbering has a gap: 00000050\.jpg"):
        open_dataset("vot", vot, image_size=False)
    nfs = tmp_path / "nfs"
    _frames(nfs / "bee" / "30" / "bee", GAP, "%05d.jpg")
    rows = [f'0 1 2 30 40 {i} 0 0 0 "bee"' for i in range(120)]
    (nfs / "bee" / "30" / "bee.txt").write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"bee: frame numbering has a gap: 00050\.jpg is missing"):
        open_dataset("nfs", nfs)


def test_trackingnet_gap_from_frame_zero(tmp_path: Path) -> None:
    chunk = tmp_path / "TRAIN_0"
    _frames(chunk / "frames" / "v1", [*range(0, 49), *range(50, 121)], "%d.jpg")
    _lines(chunk / "anno" / "v1.txt", 120)
    with pytest.raises(DataError, match=r"v1: frame numbering has a gap: 49\.jpg is missing and "
                       r"the next frame present is 50\.jpg"):  # fmt: skip
        open_dataset("trackingnet", tmp_path, cache=False)


def test_got10k_gap_strict_error_tolerant_skip(tmp_path: Path) -> None:
    root = _got10k(tmp_path, {"GOT-1": GAP, "GOT-2": list(range(1, 9))})
    with pytest.raises(DataError, match=r"GOT-1: frame numbering has a gap: 00000050\.jpg"):
        open_dataset("got10k", root, "train", cache=False)
    with pytest.warns(UserWarning, match=r"got10k: skipped 1 sequence\(s\).*00000050\.jpg"):
        ix = open_dataset("got10k", root, "train", cache=False, strict=False)
    assert ix.names == ["GOT-2"]


def test_check_reports_every_problem_with_file_and_line(tmp_path: Path) -> None:
    root = _got10k(
        tmp_path / "GOT",
        {"GOT-1": GAP, "GOT-2": list(range(1, 9)), "GOT-3": list(range(1, 7))},
        listed=["GOT-1", "GOT-2", "GOT-9", "GOT-3"],
    )
    bad = root / "train" / "GOT-3" / "groundtruth.txt"
    bad.write_text("10,10,20,20\n" * 3 + "10,x,20,20\n" + "10,10,20,20\n" * 2)
    args = ["check", "dataset=got10k", f"root={root}", "split=train", "decode=false"]
    out = run_cli(
        "prep", *args, "progress=false", f"hydra.run.dir={tmp_path}/h", cwd=tmp_path, check=False
    )
    assert out.returncode == 1, out.stderr[-2000:]
    lst, train = root / "train" / "list.txt", root / "train"
    assert f"  {lst}:3: sequence folder {train / 'GOT-9'} does not exist\n" in out.stdout
    assert f"  {train / 'GOT-1'}: frame numbering has a gap: 00000050.jpg is missing" in out.stdout
    assert f"  {bad}:4: non-numeric value in '10,x,20,20'\n" in out.stdout
    assert "got10k: 1 sequences, 8 frames" in out.stdout
    assert "2 sequences a tolerant load skips" in out.stdout
    assert "FAILED: 3 problems" in out.stdout


def test_check_reports_a_missing_root(tmp_path: Path) -> None:
    from siamlightning.data.tools.check import check_source

    report = check_source("otb", tmp_path / "nowhere", progress=False)
    assert not report.ok and report.counts["load_error"] == 1
    assert str(report.examples["load_error"][0]) == (
        f"{tmp_path / 'nowhere'}: otb root folder does not exist"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = check_source("otb", tmp_path, progress=False)  # exists, holds nothing
    assert report.sequences == 0

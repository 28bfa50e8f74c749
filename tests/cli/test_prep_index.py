"""``siamlightning-prep index`` and ``check`` as a user runs them (subprocesses)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers import run_cli

from siamlightning.data import open_dataset
from siamlightning.data.index.compact import CompactIndex
from siamlightning.data.tools.writers import write_got10k, write_lasot


def _synth(seed: int) -> object:
    return open_dataset(
        "synthetic", None, seed=seed, num_sequences=2, length=8, width=48, height=40, difficulty=0
    )


@pytest.fixture
def lasot(tmp_path: Path) -> Path:
    """Two clean 8-frame LaSOT sequences (no absent frames)."""
    root = write_lasot(_synth(2), tmp_path / "LaSOT")
    assert not any(s.absent.any() for s in open_dataset("lasot", root))
    return root


def test_index_builds_reports_and_refreshes(lasot: Path, tmp_path: Path) -> None:
    args = ["index", "dataset=lasot", f"root={lasot}", f"cache_dir={tmp_path}/c"]
    out = run_cli("prep", *args, f"hydra.run.dir={tmp_path}/h1", cwd=tmp_path).stdout
    assert re.search(r"lasot: 2 sequences, 16 frames; cache built in [\d.]+ s; load [\d.]+ ms", out)
    folder = Path(re.search(r"cache: (\S+)", out).group(1))
    assert folder.parent == tmp_path / "c" / "index" and (folder / "meta.json").is_file()
    assert CompactIndex.open(folder).names == open_dataset("lasot", lasot).names
    out = run_cli("prep", *args, f"hydra.run.dir={tmp_path}/h2", cwd=tmp_path).stdout
    assert "cache up to date" in out and f"cache: {folder}" in out
    out = run_cli("prep", *args, "rebuild=true", f"hydra.run.dir={tmp_path}/h3", cwd=tmp_path)
    assert "cache built in" in out.stdout and "KiB on disk" in out.stdout


def test_check_counts_problems_with_file_and_line(lasot: Path, tmp_path: Path) -> None:
    base = ["check", "dataset=lasot", f"root={lasot}", "progress=false"]
    clean = run_cli("prep", *base, f"hydra.run.dir={tmp_path}/h0", cwd=tmp_path)
    assert "OK: no problems" in clean.stdout and "0 unreadable frames" in clean.stdout
    s0, s1 = sorted(p for p in lasot.glob("*/*") if p.is_dir())
    (s0 / "img" / "00000004.jpg").unlink()
    cut = s0 / "img" / "00000005.jpg"
    cut.write_bytes(cut.read_bytes()[: int(cut.stat().st_size * 0.7)])
    gt = s1 / "groundtruth.txt"
    rows = gt.read_text().splitlines()
    rows[2], rows[5] = "5,5,0,10", "1000,5,10,10"
    gt.write_text("\n".join(rows) + "\n")
    report = tmp_path / "out" / "report.json"
    args = [*base, "workers=2", f"report={report}", f"hydra.run.dir={tmp_path}/h1"]
    out = run_cli("prep", *args, cwd=tmp_path, check=False)
    assert out.returncode == 1, out.stderr[-2000:]
    doc = json.loads(report.read_text())
    counts = {k: v for k, v in doc["counts"].items() if v}
    assert counts == {
        "missing_frame": 1,
        "truncated_frame": 1,
        "bad_box": 1,
        "box_outside_image": 1,
    }
    assert doc["frames"] == 16 and doc["sequences"] == 2 and not doc["ok"]
    bad = doc["examples"]["bad_box"][0]
    assert (bad["path"], bad["line"], bad["frame"]) == (str(gt), 3, 2)
    assert doc["examples"]["missing_frame"][0]["path"].endswith("00000004.jpg")
    assert f"{gt}:3: box [5.0, 5.0, 0.0, 10.0] has a bad size" in out.stdout
    assert f"{gt}:6: box [1000.0, 5.0, 10.0, 10.0] has a bad place (image 48x40)" in out.stdout
    assert "1 unreadable frames" in out.stdout and "FAILED: 4 problems" in out.stdout
    fast = run_cli(
        "prep", *base, "decode=false", f"hydra.run.dir={tmp_path}/h2", cwd=tmp_path, check=False
    )
    assert fast.returncode == 1
    assert "missing_frame" in fast.stdout and "truncated_frame" in fast.stdout
    assert "box_outside_image" not in fast.stdout  # no image size without decoding or meta


def test_check_reports_a_reader_error_instead_of_crashing(tmp_path: Path) -> None:
    root = write_got10k(_synth(4), tmp_path / "GOT", split="val")
    seq = sorted(p for p in (root / "val").iterdir() if p.is_dir())[1]
    with open(seq / "groundtruth.txt", "a") as f:
        f.write("1,2,3,4\n")  # one row more than frames
    out = run_cli(
        "prep",
        "check",
        "dataset=got10k",
        f"root={root}",
        "split=val",
        f"hydra.run.dir={tmp_path}/h",
        cwd=tmp_path,
        check=False,
    )
    assert out.returncode == 1 and "load_error" in out.stdout
    line = f"  {seq / 'groundtruth.txt'}: 9 annotation lines but 8 frames in {seq}\n"
    assert line in out.stdout


@pytest.mark.parametrize("command", ["check", "index"])
def test_a_misspelt_reader_option_exits_1_with_one_line(
    command: str, lasot: Path, tmp_path: Path
) -> None:
    out = run_cli(
        "prep", command, "dataset=lasot", f"root={lasot}", "+reader_options.stict=false",
        f"cache_dir={tmp_path}/c", f"hydra.run.dir={tmp_path}/h", cwd=tmp_path, check=False,
        env={"HYDRA_FULL_ERROR": None},
    )  # fmt: skip
    assert out.returncode == 1, out.stderr[-2000:]
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert lines[-1] == (
        "error: data source 'lasot': unknown option 'stict' (did you mean 'strict'?); "
        "lasot accepts: attributes, sequences, strict"
    )
    assert "Traceback" not in out.stderr and not (tmp_path / "c").exists()

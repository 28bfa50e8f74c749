"""siamlightning-prep crop: a resumable 511-px crop cache from the CLI; write vot/lasot layouts."""

from pathlib import Path

from helpers import run_cli

from siamlightning.data import open_dataset


def test_crop_cache_builds_then_resumes(tmp_path: Path) -> None:
    opts = ["dataset=synthetic", "options.num_sequences=2", "options.length=6", "progress=false"]
    run_cli("prep", "write", *opts[:3], "layout=got10k", f"out={tmp_path}/got", cwd=tmp_path)
    args = ["dataset=got10k", f"root={tmp_path}/got", "split=train", "workers=1",
            f"out={tmp_path}/crops", "progress=false"]  # fmt: skip
    out = run_cli("prep", "crop", *args, cwd=tmp_path)
    crops = sorted((tmp_path / "crops").rglob("*.x.jpg"))
    assert crops and "failed" in out.stdout and f"{len(crops)} crops" in out.stdout
    crops[0].unlink()
    again = run_cli("prep", "crop", *args, cwd=tmp_path)
    assert f"1 written, {len(crops) - 1} already there, 0 failed" in again.stdout
    assert crops[0].is_file()


def test_write_vot_and_lasot_layouts(tmp_path: Path) -> None:
    opts = ["dataset=synthetic", "options.num_sequences=2", "options.length=5"]
    for layout in ("vot", "lasot"):
        run_cli("prep", "write", *opts, f"layout={layout}", f"out={tmp_path}/{layout}",
                cwd=tmp_path)  # fmt: skip
        assert len(open_dataset(layout, tmp_path / layout, cache=False)) == 2

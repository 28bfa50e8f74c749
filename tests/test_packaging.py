"""The config tree ships inside a non-editable wheel and Hydra finds it there."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

PROBE = """
import siamlightning, sys
from siamlightning.configs import config_dir
from hydra import compose, initialize_config_dir
d = config_dir()
assert str(d).startswith(sys.argv[1]), (str(d), sys.argv[1])
assert siamlightning.__file__.startswith(sys.argv[1]), siamlightning.__file__
with initialize_config_dir(config_dir=str(d), version_base="1.3"):
    cfg = compose(config_name="train")
print("OK", d, cfg.model._target_)
"""


def test_wheel_ships_conf(tmp_path):
    pytest.importorskip("hatchling", reason="hatchling (the [dev] extra) builds the wheel")
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheels),
            str(REPO),
        ],
        check=True,
    )
    (whl,) = wheels.glob("siamlightning-*.whl")
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(site),
            str(whl),
        ],
        check=True,
    )
    assert (site / "siamlightning" / "conf" / "train.yaml").is_file()
    assert (site / "siamlightning" / "conf" / "export.yaml").is_file()
    (entry_points,) = site.glob("siamlightning-*.dist-info/entry_points.txt")
    assert "siamlightning-export = siamlightning.cli.export:main" in entry_points.read_text()
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(site)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "OK" in out.stdout

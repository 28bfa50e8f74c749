"""Importing the package changes nothing outside it: every module leaves os.environ as it was,
and albumentations is imported without its PyPI update check (a network request)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

_IMPORT_ALL = """
import importlib, json, os, pkgutil
import cv2, lightning  # their own imports set LD_LIBRARY_PATH, TORCHINDUCTOR_CACHE_DIR, ...
before = dict(os.environ)
import siamlightning
names = [m.name for m in pkgutil.walk_packages(siamlightning.__path__, "siamlightning.")]
for name in names:
    importlib.import_module(name)
after = dict(os.environ)
changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
import albumentations.check_version as check
print(json.dumps({"modules": names, "changed": changed, "checked": check.opener is not None}))
"""


def test_importing_every_module_leaves_the_environment_unchanged():
    quiet = ("NO_ALBUMENTATIONS_UPDATE", "WANDB_SILENT", "WANDB_MODE")
    env = {k: v for k, v in os.environ.items() if k not in quiet}
    out = subprocess.run(
        [sys.executable, "-c", _IMPORT_ALL],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert "siamlightning.cli.train" in result["modules"]  # the entry points too
    assert "siamlightning.data.pairs.augment" in result["modules"]
    assert result["changed"] == []
    assert not result["checked"]  # albumentations did not ask PyPI for its latest version

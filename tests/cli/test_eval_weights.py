"""siamlightning-eval ckpt=<pysot or SiamMask config> weights=<file> on a benchmark."""

import json
import sys
from pathlib import Path

import pytest
import torch

from siamlightning.cli import eval as eval_cli
from siamlightning.models.pysot_weights import build_pysot_net


def _eval(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> None:
    monkeypatch.chdir(tmp_path)  # in-process, as the console script runs it
    monkeypatch.setattr(sys, "argv", ["siamlightning-eval", *args, "hydra.run.dir=run"])
    eval_cli.main()


def test_eval_runs_pysot_weights_on_a_benchmark(tmp_path, monkeypatch, capsys):
    torch.manual_seed(0)
    torch.save(build_pysot_net("siamrpn_alex_dwxcorr").state_dict(), tmp_path / "model.pth")
    options = "{seed: 900000, num_sequences: 1, length: 6, width: 160, height: 120}"
    _eval(
        tmp_path,
        monkeypatch,
        "ckpt=siamrpn_alex_dwxcorr",
        "weights=model.pth",  # relative to the working directory
        f"benchmark.options={options}",
        "progress=false",
    )
    report = json.loads((tmp_path / "run" / "metrics.json").read_text())["synthetic"]
    assert list(report) == ["siamrpn_alex_dwxcorr"]
    assert report["siamrpn_alex_dwxcorr"]["overall"]["num_sequences"] == 1
    assert "success_auc" in capsys.readouterr().out


def test_eval_weights_for_an_unknown_config_says_which_exist(tmp_path, monkeypatch):
    torch.save({}, tmp_path / "model.pth")
    with pytest.raises(ValueError, match=r"unknown pysot config 'siamrpn_nope'; known: .*siammask"):
        _eval(tmp_path, monkeypatch, "ckpt=siamrpn_nope", "weights=model.pth", "progress=false")

"""scripts/bench/bench_train_step.py: one JSON line per run, the regimes a module supports."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench" / "bench_train_step.py"
FIELDS = {
    "model", "regime", "batch", "threads", "precision", "steps", "median_step_s", "mean_step_s",
    "min_step_s", "cpu", "native_bf16", "torch", "accelerator", "device", "peak_mem_mib",
}  # fmt: skip


def _bench():
    spec = importlib.util.spec_from_file_location("bench_train_step", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize(
    ("model", "regime", "search"),
    [("siamrpn_alex_dwxcorr", "frozen", 255), ("siamfc", "all", 239)],
)
def test_prints_one_json_line(model, regime, search, capsys):
    argv = ["--model", model, "--regime", regime, "--batch", "2", "--steps", "2", "--warmup", "1"]
    result = _bench().main(argv)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("{")]
    assert len(lines) == 1
    printed = json.loads(lines[0])
    assert printed == result
    assert FIELDS <= printed.keys()
    assert (printed["model"], printed["regime"], printed["batch"]) == (model, regime, 2)
    assert printed["steps"] == 2 and len(printed["step_times_s"]) == 2  # the warm-up is dropped
    assert printed["median_step_s"] > 0 and printed["min_step_s"] <= printed["median_step_s"]
    assert printed["precision"] == "32-true" and printed["search_size"] == search
    assert printed["accelerator"] == "cpu" and printed["peak_mem_mib"] > 100  # process max RSS


def test_regimes_set_the_schedule_knobs():
    bench = _bench()
    frozen = bench.compose_model_config("siamrpn_alex_dwxcorr", "frozen").model
    backbone = bench.compose_model_config("siamrpn_alex_dwxcorr", "backbone").model
    full = bench.compose_model_config("siamrpn_alex_dwxcorr", "all").model
    assert frozen.backbone_unfreeze_epoch > 0
    assert backbone.backbone_unfreeze_epoch == 0
    assert list(backbone.backbone_train_layers) == list(frozen.backbone_train_layers)
    assert full.backbone_unfreeze_epoch == 0
    assert list(full.backbone_train_layers) == [f"layer{i}" for i in range(1, 6)]


def test_siamfc_has_only_the_all_regime():
    with pytest.raises(SystemExit, match="--regime frozen is not defined for --model siamfc"):
        _bench().main(["--model", "siamfc", "--regime", "frozen"])

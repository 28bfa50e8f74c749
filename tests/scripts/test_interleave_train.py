"""scripts/bench/interleave_train.py: alternating sides, per-round ratios, pysot's JSON read."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench" / "interleave_train.py"


def _mod():
    spec = importlib.util.spec_from_file_location("interleave_train", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_pairs_parse_and_bad_ones_are_named():
    mod = _mod()
    pair = mod.parse_pair("siamrpn_alex_dwxcorr_16gpu:siamrpn_alex_dwxcorr:frozen:a=1,b=2")
    assert pair == {
        "pysot": "siamrpn_alex_dwxcorr_16gpu",
        "model": "siamrpn_alex_dwxcorr",
        "regime": "frozen",
        "overrides": ["a=1", "b=2"],
    }
    with pytest.raises(argparse.ArgumentTypeError, match="'alex:frozen'"):
        mod.parse_pair("alex:frozen")


def test_rounds_alternate_the_first_side_and_report_ratios(monkeypatch, capsys):
    mod = _mod()
    order: list[str] = []
    times = {"pysot": iter([2.0, 3.0, 2.0]), "ours": iter([1.0, 1.0, 4.0])}

    def side(name):
        def run(pair, args, env):
            order.append(name)
            return next(times[name]), [name, pair["model"]]

        return run

    monkeypatch.setattr(mod, "pysot_step", side("pysot"))
    monkeypatch.setattr(mod, "our_step", side("ours"))
    monkeypatch.setenv("PYSOT_DIR", "/nowhere")
    (out,) = mod.main(["--pair", "p:m:frozen", "--rounds", "3"])
    assert order == ["pysot", "ours", "ours", "pysot", "pysot", "ours"]
    assert [r["ratio"] for r in out["rounds"]] == [2.0, 3.0, 0.5]
    assert out["median_ratio"] == 2.0 and out["min_ratio"] == 0.5
    assert out["pysot_step_s"] == 2.0 and out["our_step_s"] == 1.0
    assert json.loads(capsys.readouterr().out) == out


def test_pysot_side_reads_bench_train_json(tmp_path):
    mod = _mod()
    fake = tmp_path / "bench_train.py"
    fake.write_text(
        "import json, sys\n"
        "out = sys.argv[sys.argv.index('--out') + 1]\n"
        "json.dump({'summary': {'step_s': 1.25}, 'argv': sys.argv}, open(out, 'w'))\n"
    )
    args = argparse.Namespace(
        taskset=[], pysot_python=sys.executable, reference=tmp_path, batch=8, threads=2,
        steps=3, warmup=1,
    )  # fmt: skip
    step, cmd = mod.pysot_step({"pysot": "cfg", "regime": "frozen"}, args, {})
    assert step == 1.25 and cmd[cmd.index("--config") + 1] == "cfg"


def test_missing_pysot_dir_is_an_error(monkeypatch):
    monkeypatch.delenv("PYSOT_DIR", raising=False)
    with pytest.raises(SystemExit, match="PYSOT_DIR"):
        _mod().main(["--pair", "p:m:frozen"])

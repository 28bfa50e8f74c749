"""scripts/gpu_check.py on its CPU code path: JSON records, the table, FAILED rows, no CUDA."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "gpu_check.py"


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def test_cpu_path_records_table_and_failures(gpu_check, monkeypatch, tmp_path, capsys):
    # a model config that does not exist: its check must fail alone, as a FAILED row
    monkeypatch.setitem(gpu_check.TRAIN_MODELS, "siamfc_missing", ("quickstart", ("all",)))
    argv = ["--device", "cpu", "--only", "train siamfc*", "track*", "eval *alex*", "--steps", "1"]
    argv += ["--warmup", "0", "--track-model", "siamrpn_alex_dwxcorr", "--track-frames", "3"]
    assert gpu_check.main([*argv, "--out", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    records = [json.loads(ln) for ln in out.splitlines() if ln.startswith("{")]
    assert [r["check"] for r in records] == [
        "train siamfc all 32-true",
        "train siamfc_missing all 32-true",
        "track siamrpn_alex_dwxcorr fp32",
        "eval siamrpn_alex_dwxcorr batched",
    ]
    train, missing, track, batched = records
    assert train["status"] == "ok" and (train["batch"], train["steps"]) == (2, 1)
    assert train["precision"] == "32-true" and train["search_size"] == 239
    assert train["steps_per_s"] > 0 and train["peak_mem_mib"] > 100
    assert train["pairs_per_s"] == pytest.approx(2 * train["steps_per_s"], rel=0.02)
    assert missing["status"] == "FAILED" and "siamfc_missing" in missing["error"]
    assert track["status"] == "ok" and track["fps"] > 0 and track["frames"] == 2
    assert batched["status"] == "ok" and set(batched["fps_by_k"]) == {"1", "2"}
    assert batched["frames"] == 4 and batched["max_box_diff_px"] <= 1e-3
    table = out[out.index("| check |") :].splitlines()
    assert len(table) == 2 + len(records)
    assert table[2].startswith("| train siamfc all 32-true | ok | ")
    assert table[3].startswith("| train siamfc_missing all 32-true | FAILED |")
    assert table[4].startswith("| track siamrpn_alex_dwxcorr fp32 | ok | ")
    assert table[5].startswith("| eval siamrpn_alex_dwxcorr batched | ok | ")
    saved = (tmp_path / "results.jsonl").read_text().splitlines()
    assert [json.loads(ln) for ln in saved] == records
    assert (tmp_path / "table.md").read_text().rstrip().endswith(table[-1])


def test_cuda_plan_lists_every_measurement(gpu_check, capsys):
    assert gpu_check.main(["--list"]) == 0  # listing needs no GPU
    names = capsys.readouterr().out.split("\n")[:-1]
    # rpn x regimes x precisions, siamfc, track, batched eval, ddp
    assert len(names) == 2 * 2 * 3 + 3 + 3 + 3 + 1
    assert "eval siamrpn_r50_l234_dwxcorr batched" in names
    assert "train siamrpn_r50_l234_dwxcorr backbone 16-mixed" in names
    assert "train siamfc all bf16-mixed" in names
    assert "track siamrpn_r50_l234_dwxcorr fp16" in names
    assert names[-1] == "ddp quickstart 1 device"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_asked_without_cuda_exits_with_the_reason(gpu_check):
    with pytest.raises(SystemExit) as exc:
        gpu_check.main(["--only", "train siamfc*"])
    assert "CUDA is not available" in str(exc.value.code)  # a message: exit status 1


def test_ddp_rate_is_measured_after_the_warmup(gpu_check):
    rows = [{"train/batches": str(b), "train/time": str(t)} for b, t in [(1, 5.0), (2, 6.0)]]
    rows += [{"train/loss": "0.7"}, {"train/batches": "4", "train/time": "7.0"}]
    assert gpu_check.ddp_rate(rows, warmup=1) == (2.0, 4)  # 2 steps in 1 s after step 2
    with pytest.raises(RuntimeError, match="logged 3 steps; need 5"):
        gpu_check.ddp_rate(rows, warmup=3)

"""scripts/bench/bench_loader.py: one JSON line per (source, workers), the DataModule's batches."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench" / "bench_loader.py"
FIELDS = {
    "source", "workers", "batch", "batches", "warmup_batches", "runs", "pairs_per_s", "batch_s",
    "wait_s_per_batch", "startup_s", "batch_shapes", "cpu", "torch",
}  # fmt: skip


def _bench():
    spec = importlib.util.spec_from_file_location("bench_loader", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_prints_one_json_line_per_source_and_worker_count(tmp_path, capsys):
    argv = ["--workers", "0", "1", "--batch", "4", "--batches", "2", "--warmup-batches", "1",
            "--runs", "1", "--source", "crop_cache", "--sequences", "2", "--length", "6",
            "--work", str(tmp_path)]  # fmt: skip
    results = _bench().main(argv)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("{")]
    printed = [json.loads(ln) for ln in lines]
    assert printed == results
    assert [(r["source"], r["workers"]) for r in printed] == [("crop_cache", 0), ("crop_cache", 1)]
    # the pysot experiment's loader: pysot crop geometry (search 255), batch 4, pair keys
    expected = {
        "template": [4, 3, 127, 127], "search": [4, 3, 255, 255], "template_box": [4, 4],
        "search_box": [4, 4], "negative": [4], "source": [4], "skipped": [4], "skip_note": [4],
    }  # fmt: skip
    for r in printed:
        assert FIELDS <= r.keys()
        assert (r["batch"], r["batches"], r["runs"]) == (4, 2, 1)
        assert r["pairs_per_s"] > 0 and r["startup_s"] > 0
        assert r["pairs_per_s"] * r["batch_s"] == pytest.approx(4, rel=0.02)  # 4 pairs a batch
        assert r["batch_shapes"] == expected


def test_the_loader_is_the_experiment_datamodule(tmp_path):
    bench = _bench()
    source = {"name": "got10k", "root": str(tmp_path), "split": "train"}
    cfg = bench.compose_data_config(experiment="siamrpn_r50_l234_dwxcorr", batch=32, batches=5)
    cfg = bench.use_source(cfg, source=source, workers=2)
    data = cfg.data
    assert data._target_ == "siamlightning.data.pairs.datamodule.TrackingDataModule"
    assert (data.batch_size, data.num_workers, data.samples_per_epoch) == (32, 2, 160)
    assert list(data.train_sources) == [source] and list(data.val_sources) == []
    # pysot's augmentation (data/augment/pysot.yaml) and NEG
    assert (data.search_shift, data.search_scale, data.color, data.blur_prob) == (
        64.0, 0.18, "pca", 0.2,
    )  # fmt: skip
    assert data.sampler.neg_prob == 0.2

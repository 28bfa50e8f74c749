"""GPU check: training steps/s and peak memory, 1-GPU NCCL DDP, tracking fps; JSON lines + table.

    python scripts/gpu_check.py --out gpu_check      # a CUDA machine: ~3-5 min on an H100
    python scripts/gpu_check.py --device cpu --quick  # the same code path, tiny settings

One JSON line per measurement on stdout, then a markdown table (also ``results.jsonl`` and
``table.md`` in ``--out``); progress on stderr. The measurements:

  train  ``scripts/bench/bench_train_step.py``'s ``main`` (imported) for siamrpn_alex_dwxcorr
         and siamrpn_r50_l234_dwxcorr in the frozen and backbone regimes and siamfc in ``all``,
         at 32-true, bf16-mixed and 16-mixed; the per-GPU batch of each model's experiment
         (``conf/experiment``: alex 128 and r50 28 as pysot's recipes, siamfc 8 as the quick
         start), the search crop of the model's geometry (siamfc: ``model=siamfc``, full width at
         239, not the quick start's half width at 175). Steps/s = 1 / median step; pairs/s =
         batch / median step; peak CUDA memory of each run.
  ddp    ``siamlightning-train experiment=quickstart trainer=ddp trainer.devices=1`` (one NCCL
         process, the quick start's data and precision) for ``--ddp-steps`` steps in a temporary
         folder, evaluation off, CSV logger and Lightning's ThroughputMonitor: the backend
         Lightning reported, steps/s after ``--ddp-warmup`` steps (data loading included), wall
         time of the whole command, every loss finite.
  track  ``scripts/bench/bench_track_rpn.py``'s pass (imported) for ``--track-model`` (r50) with
         seeded random weights at batch 1 on its synthetic 640x360 sequence: fps (frame decoding
         excluded, the first frame's init untimed) at tracker precision fp32, bf16, fp16.
  eval   ``scripts/bench/bench_batched_eval.py``'s ``measure`` (imported): aggregate frames/s of
         OPE evaluation with ``evaluate.batch_sequences`` K = 1, 16, 64 (``--eval-k``) for
         siamfc, siamrpn_alex_dwxcorr and siamrpn_r50_l234_dwxcorr (seeded random weights, fp32)
         on 64 synthetic 320x240 sequences of 50 frames kept in memory; the largest K's fps is
         the rate, every K's fps and the batched-vs-sequential box difference in the notes.

A check that raises is a FAILED row with its error, and the script exits 1 after the table.
``--device cpu`` runs the same code with batch 2, 2 steps, precision 32-true / fp32 only and the
DDP check through ``trainer=ddp_cpu`` (gloo): what tests/scripts/test_gpu_check.py runs.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import functools
import gc
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "bench"))  # the bench scripts import as modules
# model config -> (experiment whose per-GPU batch it trains with, regimes measured)
TRAIN_MODELS = {
    "siamrpn_alex_dwxcorr": ("siamrpn_alex_dwxcorr", ("frozen", "backbone")),
    "siamrpn_r50_l234_dwxcorr": ("siamrpn_r50_l234_dwxcorr", ("frozen", "backbone")),
    "siamfc": ("quickstart", ("all",)),
}
GPU_PRECISIONS = ("32-true", "bf16-mixed", "16-mixed")
GPU_TRACK_PRECISIONS = ("fp32", "bf16", "fp16")
# ThroughputMonitor logs train/time (s since the fit started, CUDA synchronized) and
# train/batches at every logged step; its batch_size_fn (here len, the number of batch keys)
# only feeds the samples counts, which are not read
THROUGHPUT = (
    "+callbacks.throughput._target_=lightning.pytorch.callbacks.ThroughputMonitor",
    "+callbacks.throughput.batch_size_fn._target_=builtins.len",
    "+callbacks.throughput.batch_size_fn._partial_=true",
)


@dataclass(frozen=True, kw_only=True)
class Settings:
    """What each check runs: device, precisions, batch and step counts."""

    device: str  # cuda or cpu
    precisions: tuple[str, ...]  # Lightning training precisions
    track_precisions: tuple[str, ...]  # tracker precisions
    batch: int | None  # None: each experiment's per-GPU batch
    warmup: int
    steps: int
    threads: int
    ddp_steps: int
    ddp_warmup: int
    track_model: str
    track_frames: int
    track_runs: int
    eval_ks: tuple[int, ...]  # batch_sequences values of the eval checks
    eval_sequences: int
    eval_length: int


@dataclass(frozen=True)
class Check:
    """One measurement: its name (``--only`` matches it), kind and the function that runs it."""

    name: str
    kind: str  # train, ddp or track
    run: Callable[[], dict[str, Any]]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring); unset ones depend on --device / --quick."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    ap.add_argument("--quick", action="store_true", help="fewer steps, frames and runs")
    ap.add_argument("--out", type=Path, help="also write results.jsonl and table.md here")
    ap.add_argument("--only", nargs="+", metavar="GLOB", help="checks whose name matches")
    ap.add_argument("--list", action="store_true", help="print the check names and exit")
    ap.add_argument("--precisions", nargs="+", help="training precisions")
    ap.add_argument("--batch", type=int, help="one batch for every training check")
    ap.add_argument("--warmup", type=int)
    ap.add_argument("--steps", type=int)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--ddp-steps", type=int)
    ap.add_argument("--track-model", default="siamrpn_r50_l234_dwxcorr")
    ap.add_argument("--track-frames", type=int)
    ap.add_argument("--eval-k", nargs="+", type=int, help="batch_sequences of the eval checks")
    return ap.parse_args(argv)


def make_settings(args: argparse.Namespace) -> Settings:
    """The settings of ``--device`` / ``--quick``, with the options given explicitly on top."""
    gpu = args.device == "cuda"
    if gpu:
        base = dict(batch=None, warmup=3, steps=10, ddp_steps=60, ddp_warmup=10)
        base.update(track_frames=100, track_runs=3, threads=min(8, os.cpu_count() or 1))
        base.update(eval_ks=(1, 16, 64), eval_sequences=64, eval_length=50)
        if args.quick:
            base.update(warmup=2, steps=5, ddp_steps=30, track_frames=50, track_runs=1)
            base.update(eval_length=20)
    else:
        base = dict(batch=2, warmup=1, steps=2, ddp_steps=4, ddp_warmup=1)
        base.update(track_frames=6 if args.quick else 12, track_runs=1, threads=2)
        base.update(eval_ks=(1, 2), eval_sequences=2, eval_length=3)
    if args.eval_k:
        base["eval_ks"] = tuple(args.eval_k)
        base["eval_sequences"] = max(base["eval_sequences"], max(args.eval_k))
    given = {k: getattr(args, k) for k in ("batch", "warmup", "steps", "threads", "ddp_steps")}
    base.update({k: v for k, v in given.items() if v is not None})
    if args.track_frames is not None:
        base["track_frames"] = args.track_frames
    if base["track_frames"] < 3:
        raise ValueError(f"--track-frames {base['track_frames']}: need at least 3 frames")
    base["ddp_warmup"] = min(base["ddp_warmup"], base["ddp_steps"] - 2)
    if base["ddp_warmup"] < 0:
        raise ValueError(f"--ddp-steps {base['ddp_steps']}: need at least 2 steps")
    return Settings(
        device=args.device,
        precisions=tuple(args.precisions or (GPU_PRECISIONS if gpu else ("32-true",))),
        track_precisions=GPU_TRACK_PRECISIONS if gpu else ("fp32",),
        track_model=args.track_model,
        **base,
    )


def experiment_batch(experiment: str) -> int:
    """The per-process ``data.batch_size`` of ``conf/experiment/<experiment>.yaml``."""
    from siamlightning.configs import compose

    return int(compose("train", [f"experiment={experiment}"]).data.batch_size)


def train_check(model: str, regime: str, precision: str, s: Settings) -> dict[str, Any]:
    """One bench_train_step run on ``s.device`` -> steps/s, pairs/s, median ms, peak MiB."""
    batch = s.batch or experiment_batch(TRAIN_MODELS[model][0])
    argv = ["--model", model, "--regime", regime, "--precision", precision]
    argv += ["--batch", str(batch), "--warmup", str(s.warmup), "--steps", str(s.steps)]
    argv += ["--threads", str(s.threads), "--accelerator", s.device]
    import bench_train_step

    with redirect_stdout(sys.stderr):  # its own JSON line is progress here
        out = bench_train_step.main(argv)
    median = out["median_step_s"]
    return {
        "batch": batch,
        "precision": out["precision"],
        "search_size": out["search_size"],
        "steps": out["steps"],
        "steps_per_s": round(1 / median, 3),
        "pairs_per_s": round(batch / median, 1),
        "median_step_ms": round(1000 * median, 2),
        "peak_mem_mib": out["peak_mem_mib"],
        "stepped_params": out["stepped_params"],
        "device": out["device"],
    }


@functools.cache
def track_sequence(frames: int) -> tuple[list[np.ndarray], list[list[float]]]:
    """bench_track_rpn's synthetic 640x360 sequence of ``frames`` frames, RGB, and its boxes."""
    import bench_track_rpn

    bgr, boxes, _ = bench_track_rpn.make_sequence(frames, 640, 360, 0, bench_track_rpn.REFERENCE)
    return [np.ascontiguousarray(f[..., ::-1]) for f in bgr], boxes


def track_check(model: str, precision: str, s: Settings) -> dict[str, Any]:
    """bench_track_rpn's warm-up + timed passes at batch 1 on ``s.device`` -> fps, ms per frame."""
    frames, boxes = track_sequence(s.track_frames)
    opts = dict(seed=0, ckpt=[], runs=s.track_runs, device=s.device)
    args = argparse.Namespace(**opts, warmup_frames=min(10, s.track_frames))
    import bench_track_rpn

    out = bench_track_rpn.bench(model, precision, frames, boxes, args)
    out.pop("_boxes")
    return {"precision": precision, "frames": s.track_frames - 1, "runs": s.track_runs, **out}


EVAL_MODELS = ("siamfc", "siamrpn_alex_dwxcorr", "siamrpn_r50_l234_dwxcorr")


def eval_check(model: str, s: Settings) -> dict[str, Any]:
    """bench_batched_eval's OPE passes at every K of ``s.eval_ks`` -> fps per K, box diffs."""
    import bench_batched_eval

    rows = bench_batched_eval.measure(
        model, s.eval_ks, sequences=s.eval_sequences, length=s.eval_length, device=s.device
    )
    best = rows[-1]
    return {
        "fps": round(best["fps"], 1),
        "k": best["k"],
        "fps_by_k": {str(r["k"]): round(r["fps"], 1) for r in rows},
        "max_box_diff_px": max(r["max_box_diff_px"] for r in rows),
        "frames": best["frames"],
        "sequences": s.eval_sequences,
    }


def ddp_command(s: Settings, run_dir: str) -> list[str]:
    """``siamlightning-train`` of the quick start through DDP on one device, a few steps."""
    trainer = "ddp" if s.device == "cuda" else "ddp_cpu"
    return [
        sys.executable,
        "-m",
        "siamlightning.cli.train",
        "experiment=quickstart",
        f"trainer={trainer}",
        "trainer.devices=1",
        f"++trainer.max_steps={s.ddp_steps}",
        "++trainer.log_every_n_steps=1",
        "++trainer.limit_val_batches=0",
        "++trainer.enable_progress_bar=false",
        "evaluate.enabled=false",
        "~callbacks.pair_images",
        "logger=csv",
        f"hydra.run.dir={run_dir}",
        *THROUGHPUT,
    ]


def ddp_rate(rows: list[dict[str, str]], warmup: int) -> tuple[float, int]:
    """ThroughputMonitor's CSV rows -> (steps/s over the steps after ``warmup``, steps seen)."""
    pts = sorted(
        (float(r["train/batches"]), float(r["train/time"]))
        for r in rows
        if r.get("train/batches") and r.get("train/time")
    )
    timed = [p for p in pts if p[0] >= warmup + 1]
    if len(timed) < 2:
        raise RuntimeError(f"ThroughputMonitor logged {len(pts)} steps; need {warmup + 2}")
    (b0, t0), (b1, t1) = timed[0], timed[-1]
    return (b1 - b0) / (t1 - t0), int(pts[-1][0])


def ddp_check(s: Settings) -> dict[str, Any]:
    """Run the DDP quick start in a temporary folder -> backend, steps/s, wall s, losses."""
    with tempfile.TemporaryDirectory(prefix="gpu_check_ddp_") as run_dir:
        env = {**os.environ, "WANDB_MODE": "disabled", "NO_ALBUMENTATIONS_UPDATE": "1"}
        t0 = time.perf_counter()
        proc = subprocess.run(
            ddp_command(s, run_dir), env=env, capture_output=True, text=True, check=False
        )
        wall = time.perf_counter() - t0
        output = proc.stdout + proc.stderr
        if proc.returncode != 0:
            raise RuntimeError(f"siamlightning-train exited {proc.returncode}: {output[-1500:]}")
        with (Path(run_dir) / "csv" / "metrics.csv").open() as f:
            rows = list(csv.DictReader(f))
    rate, steps = ddp_rate(rows, s.ddp_warmup)
    key = "train/loss_step" if rows and "train/loss_step" in rows[0] else "train/loss"
    losses = [float(r[key]) for r in rows if r.get(key)]
    if len(losses) != s.ddp_steps or not all(math.isfinite(v) for v in losses):
        raise RuntimeError(f"expected {s.ddp_steps} finite losses, got {losses}")
    backend = re.search(r"distributed_backend=(\w+)", output)
    precision = re.search(r"training precision: (\S+)", output)
    return {
        "steps": steps,
        "backend": backend.group(1) if backend else None,
        "precision": precision.group(1) if precision else None,
        "steps_per_s": round(rate, 3),
        "warmup_steps": s.ddp_warmup,
        "wall_s": round(wall, 1),
        "last_loss": round(losses[-1], 4),
    }


def plan(s: Settings) -> list[Check]:
    """Every check of these settings, in the order they run."""
    checks = [
        Check(
            f"train {model} {regime} {prec}",
            "train",
            functools.partial(train_check, model, regime, prec, s),
        )
        for model, (_, regimes) in TRAIN_MODELS.items()
        for regime in regimes
        for prec in s.precisions
    ]
    checks += [
        Check(
            f"track {s.track_model} {p}",
            "track",
            functools.partial(track_check, s.track_model, p, s),
        )
        for p in s.track_precisions
    ]
    checks += [
        Check(f"eval {model} batched", "eval", functools.partial(eval_check, model, s))
        for model in EVAL_MODELS
    ]
    checks.append(Check("ddp quickstart 1 device", "ddp", functools.partial(ddp_check, s)))
    return checks


def select(checks: list[Check], patterns: Sequence[str] | None) -> list[Check]:
    """The checks whose name matches a glob of ``patterns`` (all without); none is an error."""
    if not patterns:
        return checks
    chosen = [c for c in checks if any(fnmatch.fnmatchcase(c.name, p) for p in patterns)]
    if not chosen:
        names = "\n  ".join(c.name for c in checks)
        raise SystemExit(f"--only {' '.join(patterns)} matches no check; the checks:\n  {names}")
    return chosen


def free_device_memory() -> None:
    """Drop what a finished check left on the GPU, so the next one's peak is its own."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def run_check(check: Check) -> dict[str, Any]:
    """Run one check -> its JSON record: status ok and the figures, or FAILED and the error."""
    print(f"[gpu_check] {check.name} ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    try:
        record = {"check": check.name, "kind": check.kind, "status": "ok", **check.run()}
    except (Exception, SystemExit) as exc:  # a bench's sys.exit(message) too
        traceback.print_exc(file=sys.stderr)
        error = f"{type(exc).__name__}: {exc}".strip()
        record = {"check": check.name, "kind": check.kind, "status": "FAILED", "error": error}
    finally:
        free_device_memory()
    record["check_s"] = round(time.perf_counter() - t0, 1)
    print(f"[gpu_check] {check.name}: {record['status']}", file=sys.stderr, flush=True)
    return record


def cell(value: Any) -> str:
    """A value as a markdown table cell ("" for None)."""
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def table_row(r: dict[str, Any]) -> list[Any]:
    """A record as the table's cells: check, status, rate, unit, ms, pairs/s, peak MiB, notes."""
    if r["status"] != "ok":
        error = (
            r["error"] if len(r["error"]) <= 300 else f"{r['error'][:100]} ... {r['error'][-200:]}"
        )
        return [r["check"], r["status"], None, None, None, None, None, error]
    if r["kind"] == "train":
        notes = f"batch {r['batch']}, search {r['search_size']}, {r['steps']} steps"
        return [
            r["check"], "ok", r["steps_per_s"], "steps/s", r["median_step_ms"],
            r["pairs_per_s"], r["peak_mem_mib"], notes,
        ]  # fmt: skip
    if r["kind"] == "track":
        notes = f"fwd {r['fwd_ms']} ms, crop {r['crop_ms']} ms, {r['frames']} frames"
        return [r["check"], "ok", r["fps"], "fps", round(1000 / r["fps"], 2), None, None, notes]
    if r["kind"] == "eval":
        by_k = ", ".join(f"K={k}: {v}" for k, v in r["fps_by_k"].items())
        notes = f"{by_k} fps; {r['frames']} frames; max box diff {r['max_box_diff_px']:.2g} px"
        return [r["check"], "ok", r["fps"], "fps", None, None, None, notes]
    notes = f"backend {r['backend']}, {r['precision']}, {r['steps']} steps, wall {r['wall_s']} s"
    return [r["check"], "ok", r["steps_per_s"], "steps/s", None, None, None, notes]


def markdown_table(records: list[dict[str, Any]], header: str) -> str:
    """The records as a markdown table under a one-line ``header``."""
    cols = ["check", "status", "rate", "unit", "ms", "pairs/s", "peak MiB", "notes"]
    lines = [header, "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(v) for v in table_row(r)) + " |" for r in records]
    return "\n".join(lines)


def machine() -> str:
    """One line naming the device, torch and CUDA versions."""
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no CUDA device"
    return f"{gpu}; torch {torch.__version__}, CUDA {torch.version.cuda}, {os.cpu_count()} CPUs"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected checks, print JSON lines and the table; 0 when every check passed."""
    args = parse_args(argv)
    s = make_settings(args)
    checks = select(plan(s), args.only)
    if args.list:
        print("\n".join(c.name for c in checks))
        return 0
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit(
            f"gpu_check: --device cuda, but CUDA is not available here (torch "
            f"{torch.__version__}, built for CUDA {torch.version.cuda}); run it on a GPU "
            "machine, or pass --device cpu for the CPU code path"
        )
    import bench_train_step

    bench_train_step.set_threads(s.threads)  # the tracking checks run with them too
    header = f"gpu_check --device {s.device}{' --quick' if args.quick else ''}: {machine()}"
    print(f"[gpu_check] {header}; {len(checks)} checks", file=sys.stderr, flush=True)
    records = []
    for check in checks:
        records.append(run_check(check))
        print(json.dumps(records[-1]), flush=True)
    table = markdown_table(records, header)
    print(table, flush=True)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        (args.out / "table.md").write_text(table + "\n")
    failed = [r["check"] for r in records if r["status"] != "ok"]
    if failed:
        print(f"[gpu_check] FAILED: {', '.join(failed)}", file=sys.stderr, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

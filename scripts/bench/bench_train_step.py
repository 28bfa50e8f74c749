"""Training-step time of a `model=` config's LightningModule under a Trainer; one JSON line.

    taskset -c 0,1 python scripts/bench/bench_train_step.py --model siamrpn_alex_dwxcorr \
        --regime frozen --batch 8 --threads 2 --precision 32-true --steps 10 --warmup 2
    python scripts/bench/bench_train_step.py --model siamrpn_r50_l234_dwxcorr --regime backbone \
        --batch 28 --accelerator cuda --precision bf16-mixed

Sits beside pysot's ``../shared/reference-bench/bench_train.py`` (same regimes, synthetic batch,
warm-up then timed steps, median): run both interleaved and compare ``median_step_s`` with its
``summary.step_s``. The module is built as ``siamlightning-train`` builds it (``conf/train.yaml``
with ``model=<m> tracker=<m> ~experiment``, ``instantiate(cfg.model)``) and trained by a real
``lightning.Trainer`` (``--accelerator``, default cpu; no logger / checkpoints / progress bar /
validation) on an in-memory loader of uint8 pair batches with the keys of `PairDataset` (positive
pairs, target near the search-crop centre; with ``masks=True``'s ``search_mask``, the ellipse in the
target box, and ``has_mask``, which modules without a mask head ignore). A step =
``on_train_batch_start`` .. ``on_train_batch_end``: forward, targets, loss, backward, clipping
and the optimiser step (loading the batch is not timed; on CUDA both ends synchronize the device
before reading the clock).
``peak_mem_mib``: on CUDA the largest ``torch.cuda.max_memory_allocated`` of this run (reset
before it), on CPU the process's maximum resident set size so far (``getrusage``, never lower than
that of earlier runs in the process).

Regimes, set through the module's own config knobs (as bench_train.py uses pysot's schedule):
  frozen   : the epochs before ``backbone_unfreeze_epoch`` (SiamRPN: backbone fixed, its BN in
             eval mode; neck + head train) - the module as configured, in epoch 0
  backbone : after the unfreeze: ``backbone_unfreeze_epoch=0``, ``backbone_train_layers`` as
             configured (alex: layer4-5, r50: layer2-4) train too
  all      : every parameter trains: ``backbone_train_layers`` = all backbone children,
             ``backbone_unfreeze_epoch=0``; the only regime of modules without a backbone
             schedule (SiamFC)
``--gradient-clip-val`` defaults to pysot's GRAD_CLIP 10 (conf/recipe/pysot.yaml) for SiamRPN,
none for SiamFC (conf/trainer/cpu.yaml), as bench_train.py clips.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from siamlightning.cpu_malloc import MODES

REGIMES = ("frozen", "backbone", "all")
ACCELERATORS = ("cpu", "cuda", "auto")
SCHEDULE_KEY = "backbone_unfreeze_epoch"  # modules with a backbone schedule have this knob


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="a conf/model name, e.g. siamrpn_alex_dwxcorr")
    ap.add_argument("--regime", choices=REGIMES, default="frozen")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precision", default="32-true", help="a Lightning precision, or auto")
    ap.add_argument("--accelerator", choices=ACCELERATORS, default="cpu")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--search-size", type=int, default=None, help="default: geometry's training")
    ap.add_argument("--gradient-clip-val", type=float, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--cpu-malloc",
        choices=MODES,
        default=None,
        help="glibc malloc mode on the CPU (default: conf/train.yaml's cpu_malloc, as the CLI)",
    )
    ap.add_argument(
        "overrides",
        nargs="*",
        help="Hydra overrides of the model, e.g. model.compile=true model.channels_last=false",
    )
    return ap.parse_args(argv)


def set_threads(n: int) -> None:
    """``n`` intra-op threads, one inter-op thread (as bench_train.py's ``setup_threads``)."""
    torch.set_num_threads(n)
    if hasattr(torch, "set_interop_threads"):  # absent from some torch builds
        try:
            torch.set_interop_threads(1)
        except RuntimeError:  # already set in this process
            pass


def compose_model_config(model: str, regime: str, overrides: Sequence[str] = ()) -> Any:
    """``conf/train.yaml`` with ``model=<model> tracker=<model>`` and the regime's overrides."""
    from hydra.utils import instantiate

    from siamlightning.configs import compose, config_dir

    tracker = model if (config_dir() / "tracker" / f"{model}.yaml").is_file() else "siamfc"
    base = [f"model={model}", f"tracker={tracker}", "~experiment", "model.backbone_weights=null"]
    base += list(overrides)
    cfg = compose("train", base[:3])
    if SCHEDULE_KEY not in cfg.model:
        if regime != "all":
            sys.exit(
                f"--regime {regime} is not defined for --model {model} "
                f"({cfg.model._target_} trains every parameter, it has no {SCHEDULE_KEY}); "
                "use --regime all"
            )
        return cfg
    if regime == "frozen":
        return compose("train", base)
    if regime == "backbone":
        if not cfg.model.backbone_train_layers:
            sys.exit(f"--regime backbone: model.backbone_train_layers of {model} is empty")
        return compose("train", [*base, f"model.{SCHEDULE_KEY}=0"])
    backbone = instantiate(cfg.model.net.backbone)
    if any(True for _ in backbone.parameters(recurse=False)):
        sys.exit(f"--regime all: {type(backbone).__name__} has parameters outside its children")
    layers = ",".join(n for n, _ in backbone.named_children())
    return compose(
        "train", [*base, f"model.{SCHEDULE_KEY}=0", f"model.backbone_train_layers=[{layers}]"]
    )


def synthetic_batches(
    *, batch: int, count: int, exemplar: int, search: int, seed: int
) -> torch.utils.data.DataLoader:
    """A loader of ``count`` uint8 pair batches with `PairDataset`'s keys (positive pairs)."""
    rng = np.random.default_rng(seed)
    c = search / 2 + rng.uniform(-48, 48, (batch, 2)) * search / 255
    wh = rng.uniform(40, 110, (batch, 2)) * search / 255
    samples = [
        {
            "template": torch.from_numpy(rng.integers(0, 256, (3, exemplar, exemplar), np.uint8)),
            "search": torch.from_numpy(rng.integers(0, 256, (3, search, search), np.uint8)),
            "template_box": torch.tensor(
                [(exemplar - w) / 2, (exemplar - h) / 2, w, h], dtype=torch.float32
            ),
            "search_box": torch.tensor([cx - w / 2, cy - h / 2, w, h], dtype=torch.float32),
            "search_mask": _ellipse_mask(search, cx, cy, w, h),
            "has_mask": torch.tensor(True),
            "negative": torch.tensor(False),
            "source": torch.tensor(0, dtype=torch.int64),
            "skipped": torch.tensor(0, dtype=torch.int64),
        }
        for (cx, cy), (w, h) in zip(c, wh)
    ]
    data = [samples[i % batch] for i in range(batch * count)]
    return torch.utils.data.DataLoader(data, batch_size=batch, shuffle=False, num_workers=0)


def _ellipse_mask(size: int, cx: float, cy: float, w: float, h: float) -> torch.Tensor:
    """(1, size, size) uint8 {0, 1}: the ellipse inscribed in the box (SiamMask's search mask)."""
    y, x = np.mgrid[0:size, 0:size] + 0.5
    inside = ((x - cx) / (w / 2)) ** 2 + ((y - cy) / (h / 2)) ** 2 <= 1
    return torch.from_numpy(inside.astype(np.uint8)[None])


def step_timer() -> Any:
    """A Callback recording each training batch's wall time in ``.times`` (seconds)."""
    import lightning as L

    class StepTimer(L.Callback):
        def __init__(self) -> None:
            self.times: list[float] = []
            self._t0 = 0.0

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            synchronize(pl_module.device)
            self._t0 = time.perf_counter()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            synchronize(pl_module.device)
            self.times.append(time.perf_counter() - self._t0)

    return StepTimer()


def synchronize(device: torch.device) -> None:
    """Wait for the queued kernels of ``device`` (a no-op off CUDA), so the clock sees them."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak_memory(accelerator: str) -> None:
    """Start a new CUDA peak-memory count when this run may use CUDA."""
    if accelerator != "cpu" and torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def peak_memory_mib(device: torch.device) -> float:
    """CUDA max allocated memory on ``device``, else the process's max RSS (MiB)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def device_name(device: torch.device) -> str:
    """The GPU's name on CUDA, else the CPU model."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model()


def cpu_model() -> str:
    """The ``model name`` line of /proc/cpuinfo ("" where there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print one JSON line and return it as a dict."""
    args = parse_args(argv)
    set_threads(args.threads)
    import lightning as L
    from hydra.utils import instantiate

    from siamlightning.cpu_malloc import set_cpu_malloc, trains_on_cpu
    from siamlightning.precision import cpu_has_native_bf16, resolve_trainer_precision

    cfg = compose_model_config(args.model, args.regime, args.overrides)
    malloc = args.cpu_malloc or str(cfg.cpu_malloc)
    if trains_on_cpu(args.accelerator):  # as siamlightning-train sets it
        set_cpu_malloc(malloc)
    search = args.search_size or int(cfg.geometry.train_search_size)
    torch.manual_seed(args.seed)
    module = instantiate(cfg.model)
    clip = args.gradient_clip_val
    if clip is None and SCHEDULE_KEY in cfg.model:
        clip = 10.0
    precision = resolve_trainer_precision(args.precision, args.accelerator)
    timer = step_timer()
    trainer = L.Trainer(
        accelerator=args.accelerator,
        devices=1,
        precision=precision,
        max_epochs=int(cfg.trainer.max_epochs),
        max_steps=args.warmup + args.steps,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        gradient_clip_val=clip,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
        callbacks=[timer],
    )
    loader = synthetic_batches(
        batch=args.batch,
        count=args.warmup + args.steps,
        exemplar=int(cfg.geometry.exemplar_size),
        search=search,
        seed=args.seed,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        reset_peak_memory(args.accelerator)
        trainer.fit(module, train_dataloaders=loader)
    device = trainer.strategy.root_device
    times = timer.times[args.warmup :]
    out = {
        "bench": "train_step",
        "model": args.model,
        "regime": args.regime,
        "overrides": list(args.overrides),
        "batch": args.batch,
        "threads": args.threads,
        "precision": str(precision),
        "cpu_malloc": malloc,
        "search_size": search,
        "warmup": args.warmup,
        "steps": len(times),
        "median_step_s": statistics.median(times),
        "mean_step_s": statistics.fmean(times),
        "min_step_s": min(times),
        "step_times_s": times,
        "stepped_params": sum(  # had a gradient at the last optimiser step
            p.numel() for p in module.parameters() if p.requires_grad and p.grad is not None
        ),
        "accelerator": device.type,
        "device": device_name(device),
        "peak_mem_mib": round(peak_memory_mib(device), 1),
        "cpu": cpu_model(),
        "native_bf16": cpu_has_native_bf16(),
        "torch": torch.__version__,
    }
    print(json.dumps(out), flush=True)
    return out


if __name__ == "__main__":
    main()

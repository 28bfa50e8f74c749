"""Step time of a frozen-backbone SiamRPN step under 2-process gloo DDP, per freezing mechanism.

    taskset -c 0,1 python scripts/bench/bench_ddp_frozen.py --model siamrpn_r50_l234_dwxcorr \
        --mechanism rewrap --batch 8 --steps 6 --warmup 2

How issue 10 chose the mechanism: the same frozen-regime module and batches under
``strategy=ddp`` (2 CPU processes, gloo, 1 thread each), frozen parts handled three ways:

  rewrap       what `SiamRPNModule` does: frozen parameters do not require grad, DDP wraps (and,
               when the trained set changes, re-wraps) only the trained ones
  find_unused  frozen parameters registered with DDP (they required grad when it wrapped) and
               then not computed, with ``find_unused_parameters=True`` - the no_grad-around-frozen-
               parts design: DDP searches the graph each step and all-reduces their zero buckets
  all_grads    every parameter requires grad, the frozen ones' gradients are computed and dropped
               before the optimiser step (siamlightning before issue 10)

One JSON line per run: median step (rank 0's ``on_train_batch_start`` .. ``on_train_batch_end``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train_step import compose_model_config, cpu_model, step_timer, synthetic_batches

MECHANISMS = ("rewrap", "find_unused", "all_grads")


def _module(cfg: Any, mechanism: str) -> Any:
    """The frozen-regime module of ``cfg``, its frozen parts handled as ``mechanism`` says."""
    from hydra.utils import instantiate

    module = instantiate(cfg.model)
    if mechanism == "rewrap":
        return module
    frozen = module.frozen_parameters(0)
    for p in module.parameters():  # registered with DDP when it wraps
        p.requires_grad_(True)
    module.apply_trainable = lambda epoch=None: False  # keep the flags as they are
    if mechanism == "find_unused":
        hook = module.on_train_epoch_start

        def freeze_after_wrapping() -> None:
            for p in frozen:
                p.requires_grad_(False)
            hook()

        module.on_train_epoch_start = freeze_after_wrapping
    else:

        def drop(optimizer: Any) -> None:
            for p in frozen:
                p.grad = None

        module.on_before_optimizer_step = drop
    return module


def main(argv: Sequence[str] | None = None) -> None:
    """Run one mechanism on 2 gloo processes; rank 0 prints the JSON line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="siamrpn_r50_l234_dwxcorr")
    ap.add_argument("--mechanism", choices=MECHANISMS, default="rewrap")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--warmup", type=int, default=2)
    args = ap.parse_args(argv)
    import lightning as L
    from lightning.pytorch.strategies import DDPStrategy

    torch.set_num_threads(1)
    cfg = compose_model_config(args.model, "frozen")
    torch.manual_seed(0)
    module = _module(cfg, args.mechanism)
    out = Path(tempfile.mkdtemp()) / "times.json"

    timer = step_timer()

    class SaveTimes(L.Callback):
        def on_train_end(self, trainer, pl_module) -> None:
            if trainer.is_global_zero:  # a forked rank: its times come back through a file
                out.write_text(json.dumps(timer.times))

    n = args.warmup + args.steps
    trainer = L.Trainer(
        accelerator="cpu",
        devices=2,
        strategy=DDPStrategy(
            start_method="fork", find_unused_parameters=args.mechanism == "find_unused"
        ),
        max_epochs=int(cfg.trainer.max_epochs),
        max_steps=n,
        gradient_clip_val=10.0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
        callbacks=[timer, SaveTimes()],
    )
    loader = synthetic_batches(
        batch=args.batch,
        count=n,
        exemplar=int(cfg.geometry.exemplar_size),
        search=int(cfg.geometry.train_search_size),
        seed=0,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        trainer.fit(module, train_dataloaders=loader)
    times = json.loads(out.read_text())[args.warmup :]
    result = {
        "bench": "ddp_frozen",
        "model": args.model,
        "mechanism": args.mechanism,
        "processes": 2,
        "threads_per_process": 1,
        "batch_per_process": args.batch,
        "steps": len(times),
        "median_step_s": statistics.median(times),
        "step_times_s": times,
        "cpu": cpu_model(),
        "torch": torch.__version__,
        "pid": os.getpid(),
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()

"""Precision that fits the machine: ``auto`` -> bf16 where it is native, else fp32 (fp16 on GPUs).

A CPU runs bf16 natively only with AVX512-BF16 or AMX (oneDNN's
``torch.ops.mkldnn._is_mkldnn_bf16_supported``); elsewhere (AVX2 laptops, many cloud VMs) bf16
is emulated and about 10x slower than fp32. A GPU runs bf16 where ``torch.cuda.is_bf16_supported``;
older GPUs get fp16 autocast instead. ``auto`` is resolved on the machine that runs (trainer
precision in ``siamlightning-train``, tracker precision when a tracker is built, so a checkpoint
saying ``auto`` resolves again where it is loaded). An explicit bf16 on a CPU without native bf16
is honoured, with one warning a process.
This module imports nothing from the rest of the package.
"""

from __future__ import annotations

import logging
import warnings

import torch

log = logging.getLogger("siamlightning.precision")

AUTO = "auto"
TRACKER_PRECISIONS = ("fp32", "bf16", "fp16")
BF16_TRAINER_PRECISIONS = ("bf16-mixed", "bf16-true", "bf16")
_GPU_ACCELERATORS = ("gpu", "cuda")

# what this process has already warned about / logged (once each)
_warned: set[str] = set()
_logged: set[str] = set()


class EmulatedPrecisionWarning(UserWarning):
    """bf16 was asked for on a CPU that emulates it (slow)."""


def cpu_has_native_bf16() -> bool:
    """True when this CPU runs bf16 natively (AVX512-BF16 / AMX), per oneDNN."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def cuda_supports_bf16() -> bool:
    """True when a CUDA GPU is present and supports bf16."""
    try:
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    except (AssertionError, RuntimeError):
        return False


def _is_gpu(accelerator: str) -> bool:
    """Trainer ``accelerator`` ("cpu", "gpu", "cuda", "auto", ...) -> does it train on a GPU."""
    if accelerator == AUTO:
        return torch.cuda.is_available()
    return accelerator in _GPU_ACCELERATORS


def reset_notices() -> None:
    """Forget the once-a-process warnings and log lines (a new training job in this process)."""
    _warned.clear()
    _logged.clear()


def warn_emulated_bf16(asked: str) -> None:
    """Warn once a process that bf16 (``asked``) on this CPU is emulated and slow."""
    if "bf16" in _warned:
        return
    _warned.add("bf16")
    warnings.warn(
        f"precision {asked!r}: this CPU has no native bf16 (AVX512-BF16 / AMX), so bf16 is "
        "emulated and about 10x slower than fp32; use precision=auto (fp32 here) or "
        "32-true / fp32",
        EmulatedPrecisionWarning,
        stacklevel=3,
    )


def log_precision_once(what: str, asked: object, resolved: object) -> None:
    """Log ``what`` ran in ``resolved`` precision (asked as ``asked``), once per distinct line."""
    line = f"{what} precision: {resolved}" + (f" (from {asked})" if asked != resolved else "")
    if line not in _logged:
        _logged.add(line)
        log.info(line)


def resolve_trainer_precision(precision: object, accelerator: str = "cpu") -> object:
    """Lightning ``precision`` (``auto`` or any Lightning value) on ``accelerator`` -> value to use.

    ``auto`` -> ``bf16-mixed`` where bf16 is native, else ``32-true`` on CPU, ``16-mixed`` on a GPU
    without bf16. Other values pass through; bf16 on a CPU without native bf16 warns once.
    """
    on_gpu = _is_gpu(str(accelerator))
    if precision == AUTO:
        if on_gpu:
            resolved = "bf16-mixed" if cuda_supports_bf16() else "16-mixed"
        else:
            resolved = "bf16-mixed" if cpu_has_native_bf16() else "32-true"
        return resolved
    if not on_gpu and precision in BF16_TRAINER_PRECISIONS and not cpu_has_native_bf16():
        warn_emulated_bf16(str(precision))
    return precision


def resolve_tracker_precision(precision: str, device: torch.device | str = "cpu") -> str:
    """Tracker ``precision`` (auto, fp32, bf16, fp16) on ``device`` -> fp32, bf16 or fp16.

    ``auto`` -> bf16 where native on the device's type, else fp32 on CPU, fp16 on a CUDA GPU
    without bf16 (fp32 on other devices). bf16 on a CPU without native bf16 warns once.
    """
    if precision != AUTO and precision not in TRACKER_PRECISIONS:
        raise ValueError(f"precision must be auto, fp32, bf16 or fp16, got {precision!r}")
    kind = torch.device(device).type
    if precision == AUTO:
        if kind == "cuda":
            return "bf16" if cuda_supports_bf16() else "fp16"
        if kind == "cpu":
            return "bf16" if cpu_has_native_bf16() else "fp32"
        return "fp32"
    if kind == "cpu" and precision == "bf16" and not cpu_has_native_bf16():
        warn_emulated_bf16(precision)
    return precision

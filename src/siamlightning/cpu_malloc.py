"""glibc malloc settings for training on a CPU: keep freed tensor memory for the next step.

A CPU training step allocates and frees the same activations and gradients every step, most of
them larger than glibc's mmap threshold (at most 32 MiB; an r50 batch of 8 has dozens of 16-64 MiB
tensors). By default glibc gives each of them its own ``mmap`` and returns it with ``munmap`` when
freed, so the next step faults every page in again and the kernel zeroes it. On a 2-core AVX2
EPYC, 6 r50 ``backbone`` steps took 3.3M minor page faults and 40 s of system time (18% of the CPU
time); with ``keep`` 1.2M (nearly all in the first step) and 15 s, and a step 14% faster.
``keep`` makes glibc serve every allocation from its heap (``M_MMAP_MAX`` 0) and never trim the
heap's top (``M_TRIM_THRESHOLD``), so a step reuses the pages of the one before it. The price: the
process's resident memory stays at its peak (the peak itself is what training needs anyway) and
may be higher through heap fragmentation (that r50 run: peak RSS 4.5 GB, 3.8 GB without).
``system`` leaves glibc's defaults.

Set once per process before training (``cpu_malloc`` in ``conf/train.yaml``; DataLoader workers
forked afterwards inherit it). Other C libraries (musl, macOS) have no ``mallopt``: a no-op there.
This module imports nothing from the rest of the package.
"""

from __future__ import annotations

import ctypes
import logging
import platform

log = logging.getLogger("siamlightning.cpu_malloc")

MODES = ("keep", "system")

# mallopt parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
KEEP_SETTINGS = ((M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, -1))  # -1: never trim (man 3 mallopt)

_logged: set[str] = set()  # the modes this process has logged (a nested pretrain run sets it again)


def check_mode(mode: str) -> str:
    """``mode`` if it is one of `MODES`, else a ValueError naming the choices."""
    if mode not in MODES:
        raise ValueError(f"cpu_malloc must be one of {MODES}, got {mode!r}")
    return mode


def trains_on_cpu(accelerator: str) -> bool:
    """True when a trainer with this ``accelerator`` computes on the CPU (``auto``: no CUDA)."""
    if accelerator == "auto":
        import torch

        return not torch.cuda.is_available()
    return accelerator == "cpu"


def glibc() -> ctypes.CDLL | None:
    """This process's C library when it is glibc (which has ``mallopt``), else None."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def set_cpu_malloc(mode: str) -> bool:
    """Apply ``mode`` (`MODES`) to this process's malloc; True when glibc took the settings.

    ``system`` changes nothing (it cannot undo an earlier ``keep``: glibc has no reset).
    """
    check_mode(mode)
    if mode == "system":
        return False
    libc = glibc()
    if libc is None:
        log.info("cpu_malloc=%s: not glibc, malloc left as it is", mode)
        return False
    ok = all(libc.mallopt(param, value) == 1 for param, value in KEEP_SETTINGS)
    if ok and mode not in _logged:
        _logged.add(mode)
        log.info("cpu_malloc=%s: freed tensor memory stays in the heap for the next step", mode)
    return ok

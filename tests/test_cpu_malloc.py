"""siamlightning.cpu_malloc: with ``keep`` a freed large tensor's pages are reused."""

from __future__ import annotations

import subprocess
import sys

import pytest

from siamlightning.cpu_malloc import check_mode, glibc, set_cpu_malloc, trains_on_cpu

# in a fresh process (mallopt is process-wide): "steps" that allocate, fill and free 200 MiB of
# tensors (48, 32, 64, 16, 40 MiB); after 3 warm-up steps, the minor page faults of 10 more
PROBE = """
import resource, sys, torch
from siamlightning.cpu_malloc import set_cpu_malloc
took = set_cpu_malloc(sys.argv[1])
def step():
    ts = [torch.empty(n * 2**18).fill_(1.0) for n in (48, 32, 64, 16, 40)]
    del ts
for _ in range(3):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step()
print(took, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""
PAGES = 10 * 200 * 2**20 // 4096  # 10 steps of 200 MiB in 4 KiB pages


def _faults(mode: str) -> tuple[str, int]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
    ).stdout.split()
    return out[0], int(out[1])


@pytest.mark.skipif(glibc() is None, reason="mallopt is glibc's; other C libraries are left as is")
def test_keep_reuses_freed_pages_and_system_does_not():
    took, keep = _faults("keep")
    assert took == "True"
    # a step takes the pages of the step before (the heap may still grow once: 16 MiB-64 MiB)
    assert keep < 0.1 * PAGES
    took, system = _faults("system")
    assert took == "False"
    assert system > 0.8 * PAGES  # glibc's default: unmapped on free, faulted in again


def test_unknown_mode_names_the_choices():
    choices = r"cpu_malloc must be one of \('keep', 'system'\), got 'fast'"
    with pytest.raises(ValueError, match=choices):
        check_mode("fast")
    with pytest.raises(ValueError, match="got 'fast'"):
        set_cpu_malloc("fast")


def test_only_cpu_training_is_tuned():
    assert trains_on_cpu("cpu")
    assert not trains_on_cpu("gpu") and not trains_on_cpu("cuda")

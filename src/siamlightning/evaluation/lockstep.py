"""Benchmark runs as jobs that can be driven one at a time or many in lockstep.

A runner's per-sequence loop (OPE, VOT reset, VOT anchors, VOS) is written once, as a
generator (a `Job`): it reads its frames and initialises its trackers itself, and where it
needs tracking it yields the frame's requests ``[(tracker, image), ...]`` and receives
``[(result, seconds), ...]`` in the same order; its return value is the sequence's result.

* `run_job` drives one job: each request is ``tracker.track(image)``, timed on its own. This is
  the sequential evaluation, call for call what the loops did before.
* `run_lockstep` drives up to ``batch`` jobs at once (``evaluate.batch_sequences``): the
  pending requests of all live jobs go through one `track_batch` (one network call per shared
  network and crop size), a finished job leaves and the next one joins. Each request's seconds
  are the step's time divided by the requests in it, so fps stays frames over tracker time.

Results equal sequential tracking up to the rounding of batched convolutions (fp32: boxes
within 1e-3 px, scores within 1e-6; tests/evaluation/test_lockstep.py). The DDP sharding is
unchanged: each rank drives the jobs of its own shard.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterable, Iterator
from typing import Any, TypeVar

import numpy as np

from siamlightning.tracking.base import Tracker, TrackResult
from siamlightning.tracking.batch import track_batch

__all__ = ["Job", "Reply", "Request", "run_job", "run_lockstep"]

T = TypeVar("T")
K = TypeVar("K")
Request = tuple[Tracker, np.ndarray]
Reply = tuple[TrackResult, float]
Job = Generator[list[Request], list[Reply], T]


def run_job(job: Job[T]) -> T:
    """Drive one job to its end, tracking each request on its own -> the job's value."""
    try:
        requests = next(job)
        while True:
            replies = []
            for tracker, image in requests:
                t0 = time.perf_counter()
                result = tracker.track(image)
                replies.append((result, time.perf_counter() - t0))
            requests = job.send(replies)
    except StopIteration as stop:
        return stop.value


def _start(job: Job[Any]) -> tuple[bool, Any]:
    """(True, first requests) of a job, or (False, its value) when it needs no tracking."""
    try:
        return True, next(job)
    except StopIteration as stop:
        return False, stop.value


def run_lockstep(jobs: Iterable[tuple[K, Job[T]]], batch: int = 1) -> Iterator[tuple[K, T]]:
    """Drive ``(key, job)`` pairs, ``batch`` at a time in lockstep (1: one after the other,
    `run_job`) -> ``(key, value)`` as each job finishes (batched: not in the given order)."""
    if int(batch) < 1:
        raise ValueError(f"batch_sequences must be >= 1, got {batch}")
    if batch == 1:
        for key, job in jobs:
            yield key, run_job(job)
        return
    pending = iter(jobs)
    live: list[list[Any]] = []  # [key, job, requests]
    while True:
        while len(live) < batch:
            nxt = next(pending, None)
            if nxt is None:
                break
            key, job = nxt
            running, value = _start(job)
            if running:
                live.append([key, job, value])
            else:
                yield key, value
        if not live:
            return
        trackers = [t for _, _, reqs in live for t, _ in reqs]
        images = [im for _, _, reqs in live for _, im in reqs]
        t0 = time.perf_counter()
        results = track_batch(trackers, images)
        seconds = (time.perf_counter() - t0) / max(len(results), 1)
        still, start = [], 0
        for slot in live:
            n = len(slot[2])
            replies = [(r, seconds) for r in results[start : start + n]]
            start += n
            try:
                slot[2] = slot[1].send(replies)
                still.append(slot)
            except StopIteration as stop:
                yield slot[0], stop.value
        live = still

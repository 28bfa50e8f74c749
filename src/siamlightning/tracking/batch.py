"""Batched multi-sequence tracking: one network call for the current frame of many sequences.

`track_batch(trackers, images)` runs one frame of each tracker (one sequence each, in lockstep):
every `NetTracker` prepares its search crops (`NetTracker.prepare`: the same crops as `track`),
the crops of trackers that share a network, a device, a precision and a crop size are
concatenated with their kernels and go through that network as one batch, and each tracker
finishes on its slice of the outputs (`NetTracker.finish`: the same post-processing as
`track`). The result equals ``[t.track(im) for t, im in zip(trackers, images)]`` up to the
rounding of batched convolutions (fp32: boxes within 1e-3 px, scores within 1e-6; tested).

Kernels and outputs are "trees": a tensor, or tuples / lists / NamedTuples of trees (SiamRPN++'s
per-level (cls, loc) kernels, `SiamMaskOutput`), handled leaf by leaf. Each tracker brings one
kernel (batch 1) for its n search crops (SiamFC's scale pyramid: n = 3); the batched call has
K kernels for K * n crops, kernel i serving crops [i n, (i + 1) n) (the correlations'
`search_per_kernel` rule), so a sequence's correlation is the one it gets alone. On this CPU
(oneDNN) convolutions are batch-invariant, so batched results are bit-identical to sequential
ones; other backends (cuDNN) may pick other algorithms per batch size, hence the tolerances.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from siamlightning.tracking.base import (
    NetTracker,
    SearchStep,
    Tracker,
    TrackResult,
    check_image,
    precision_context,
)

__all__ = ["cat_tree", "slice_tree", "track_batch"]


def _map(tree: Any, fn: Callable[[torch.Tensor], Any]) -> Any:
    """Apply ``fn`` to every tensor leaf of ``tree`` (None and other leaves are kept)."""
    if isinstance(tree, torch.Tensor):
        return fn(tree)
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):  # NamedTuple
        return type(tree)(*(_map(v, fn) for v in tree))
    if isinstance(tree, tuple | list):
        return type(tree)(_map(v, fn) for v in tree)
    return tree


def slice_tree(tree: Any, start: int, stop: int) -> Any:
    """Rows ``start:stop`` of the batch dimension of every tensor leaf."""
    return _map(tree, lambda t: t[start:stop])


def cat_tree(trees: Sequence[Any]) -> Any:
    """Trees of one structure -> one tree whose leaves are the leaves concatenated on dim 0."""
    first = trees[0]
    if isinstance(first, torch.Tensor):
        return torch.cat(list(trees))
    if isinstance(first, tuple) and hasattr(first, "_fields"):
        return type(first)(*(cat_tree([t[i] for t in trees]) for i in range(len(first))))
    if isinstance(first, tuple | list):
        return type(first)(cat_tree([t[i] for t in trees]) for i in range(len(first)))
    if all(t is None for t in trees):
        return None
    raise TypeError(f"cannot concatenate {type(first).__name__} leaves of a kernel / output tree")


def _group_key(tracker: NetTracker, step: SearchStep) -> tuple:
    return (id(tracker.net), str(tracker.device), tracker.precision, tuple(step.x.shape))


def _run_group(trackers: list[NetTracker], steps: list[SearchStep]) -> list[Any]:
    """One network call for ``steps`` of trackers that share a net -> each step's outputs."""
    if len(steps) == 1:  # exactly `NetTracker.track`'s call
        return [_call(trackers[0], steps[0].kernels, steps[0].x)]
    sizes = [s.x.shape[0] for s in steps]
    kernels = cat_tree([s.kernels for s in steps])  # one per step: each serves its n crops
    x = torch.cat([s.x for s in steps]).contiguous(memory_format=_memory_format(steps[0].x))
    outputs = _call(trackers[0], kernels, x)
    out, start = [], 0
    for n in sizes:
        out.append(slice_tree(outputs, start, start + n))
        start += n
    return out


def _memory_format(x: torch.Tensor) -> torch.memory_format:
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


def _call(tracker: NetTracker, kernels: Any, x: torch.Tensor) -> Any:
    with precision_context(tracker.precision, tracker.device):
        return tracker.net(kernels, x)


@torch.inference_mode()
def track_batch(trackers: Sequence[Tracker], images: Sequence[np.ndarray]) -> list[TrackResult]:
    """One frame of each tracker, ``images[i]`` RGB uint8 (H, W, 3) for ``trackers[i]``:
    networks shared by several trackers run once on their concatenated crops -> results in
    the trackers' order (as ``[t.track(im) ...]``). Trackers that are not `NetTracker`s
    track on their own."""
    if len(trackers) != len(images):
        raise ValueError(f"{len(trackers)} trackers but {len(images)} images")
    results: list[TrackResult | None] = [None] * len(trackers)
    groups: dict[tuple, list[tuple[int, SearchStep]]] = {}
    for i, (tracker, image) in enumerate(zip(trackers, images)):
        if not isinstance(tracker, NetTracker):
            results[i] = tracker.track(image)
            continue
        step = tracker.prepare(check_image(image))
        groups.setdefault(_group_key(tracker, step), []).append((i, step))
    for members in groups.values():
        group = [trackers[i] for i, _ in members]
        outputs = _run_group(group, [s for _, s in members])  # type: ignore[arg-type]
        for (i, step), out in zip(members, outputs):
            results[i] = trackers[i].finish(step, out)  # type: ignore[union-attr]
    return results  # type: ignore[return-value]

"""`ExportedNet`: a tracker network that runs exported graphs (ONNX, TorchScript, torch.export).

A directory written by ``siamlightning-export`` (`siamlightning.export`) holds ``tracker.yaml``
and three graphs: ``template`` (exemplar (B, 3, 127, 127) -> the kernel tensors, flattened in
the order of ``kernels.spec``), ``track`` per search size (kernel tensors + search (B, 3, S, S)
-> the net's outputs) and, for SiamMask, ``mask`` per score-map size S (search maps,
correlation, cells (N, 3) of (b, y, x) -> logits (N, 1, m, m)). `ExportedNet` has no parameters; its
``template`` / ``forward`` / ``mask`` / ``mask_rows`` take and return torch tensors as the
original net's do, so the unchanged trackers run on it (`siamlightning.load_tracker(DIR)`).

Kernels stay a structure of tensors (the net's own: one tensor, a (cls, loc) pair, a list of
pairs, (rpn kernels, mask kernel)), so several sequences' kernels concatenate leaf by leaf. A
kernel batch K with a search batch n K (kernel i serving search images [i n, (i + 1) n), the
correlations' `search_per_kernel` rule) is repeated to n K before the graph runs (the graphs
take one batch for both).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from siamlightning.errors import ConfigError
from siamlightning.models.siammask import SiamMaskOutput

TRACKER_YAML = "tracker.yaml"
FORMATS = ("onnx", "torchscript", "export")
INSTALL_HINT = 'pip install "siamlightning[export]"'

#: a kernel structure spec: a leaf index, a list of specs or ``{"tuple": [specs]}``
KernelSpec = int | list | dict


def flatten_kernels(kernels: Any) -> tuple[list[torch.Tensor], KernelSpec]:
    """Kernel structure (tensor, tuples and lists of them) -> (leaves in order, spec)."""
    leaves: list[torch.Tensor] = []

    def walk(node: Any) -> KernelSpec:
        if isinstance(node, torch.Tensor):
            leaves.append(node)
            return len(leaves) - 1
        if isinstance(node, tuple):
            return {"tuple": [walk(n) for n in node]}
        if isinstance(node, list):
            return [walk(n) for n in node]
        raise TypeError(f"kernels hold a {type(node).__name__}; expected tensors, tuples, lists")

    return leaves, walk(kernels)


def unflatten_kernels(leaves: Sequence[torch.Tensor], spec: KernelSpec) -> Any:
    """Inverse of `flatten_kernels`: leaves + spec -> the kernel structure."""
    if isinstance(spec, int):
        return leaves[spec]
    if isinstance(spec, dict):
        return tuple(unflatten_kernels(leaves, s) for s in spec["tuple"])
    return [unflatten_kernels(leaves, s) for s in spec]


def _require_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise ImportError(f"onnxruntime is needed to run ONNX graphs: {INSTALL_HINT}") from None
    return onnxruntime


class _OnnxGraph:
    """One ONNX graph on onnxruntime: torch tensors in, torch tensors out (on ``device``)."""

    def __init__(self, path: Path, device: torch.device, threads: int | None) -> None:
        ort = _require_onnxruntime()
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = int(threads)
        providers = ["CPUExecutionProvider"]
        if device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": device.index or 0}))
        self.session = ort.InferenceSession(str(path), opts, providers=providers)
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.device = device

    def __call__(self, *args: torch.Tensor) -> list[torch.Tensor]:
        feed = {
            name: np.ascontiguousarray(a.detach().float().cpu().numpy())
            if a.is_floating_point()
            else a.detach().cpu().numpy()
            for name, a in zip(self.inputs, args)
        }
        return [torch.from_numpy(o).to(self.device) for o in self.session.run(None, feed)]


class _TorchGraph:
    """A TorchScript (``torch.jit.load``) or torch.export (``torch.export.load``) graph."""

    def __init__(self, path: Path, fmt: str, device: torch.device) -> None:
        if fmt == "torchscript":
            self.module: Callable = torch.jit.load(str(path), map_location=device)
        else:
            self.module = torch.export.load(str(path)).module()
            self.module.to(device)
        self.device = device

    def __call__(self, *args: torch.Tensor) -> list[torch.Tensor]:
        out = self.module(*(a.to(self.device) for a in args))
        return list(out) if isinstance(out, tuple | list) else [out]


class ExportedNet(nn.Module):
    """A stateless tracker net whose ``template`` / ``forward`` / ``mask`` run exported graphs.

    Args:
        directory: the export directory (holds ``tracker.yaml`` and the graph files).
        spec: the parsed ``tracker.yaml``.
        threads: onnxruntime intra-op threads (None: onnxruntime's default, all cores).
    """

    def __init__(self, *, directory: str | Path, spec: dict[str, Any], threads: int | None = None):
        super().__init__()
        self.directory = Path(directory)
        self.spec = spec
        self.format = str(spec["format"])
        if self.format not in FORMATS:
            raise ConfigError(f"{self.directory / TRACKER_YAML}: unknown format {self.format!r}")
        attrs = spec["net"]
        self.stride = int(attrs["stride"])
        self.anchor_num = int(attrs.get("anchor_num") or 0)
        self.input_format = str(attrs["input_format"])
        self.output_kind = str(attrs["output_kind"])
        self.exemplar_size = int(attrs["exemplar_size"])
        self.has_refine = bool(attrs.get("refine_head", False))
        if attrs.get("mask_size") is not None:
            self.mask_size = int(attrs["mask_size"])
        self.kernel_spec: KernelSpec = spec["kernels"]["spec"]
        self.threads = threads
        self.device = torch.device("cpu")
        self._graphs: dict[str, Any] = {}

    # -- device and graph sessions -----------------------------------------------------------

    def to(self, *args: Any, **kwargs: Any) -> ExportedNet:  # type: ignore[override]
        """Record the device the graphs run on (``net.to(device, memory_format=...)``)."""
        device = torch._C._nn._parse_to(*args, **kwargs)[0]
        if device is not None and torch.device(device) != self.device:
            self.device = torch.device(device)
            self._graphs.clear()
        return self

    def _graph(self, key: str) -> Any:
        if key not in self._graphs:
            kind, _, size = key.partition("_")
            files = self.spec["files"][kind]
            name = files if not size else files.get(int(size), files.get(str(size)))
            if name is None:
                what = "score-map" if kind == "mask" else "search"
                raise ValueError(
                    f"{self.directory}: no {kind} graph for {what} size {size} (exported: "
                    f"{sorted(int(s) for s in files)}); export again with search_sizes=[...]"
                )
            path = self.directory / name
            if self.format == "onnx":
                self._graphs[key] = _OnnxGraph(path, self.device, self.threads)
            else:
                self._graphs[key] = _TorchGraph(path, self.format, self.device)
        return self._graphs[key]

    # -- the net interface -------------------------------------------------------------------

    def template(self, z: torch.Tensor) -> Any:
        """Exemplars (B, 3, 127, 127) float 0-255 -> the kernel structure of the original net."""
        return unflatten_kernels(self._graph("template")(z), self.kernel_spec)

    def forward(self, kernels: Any, x: torch.Tensor) -> Any:
        """Kernels (batch 1 or B) and search (B, 3, S, S) -> the original net's outputs:
        response (B, 1, R, R), (cls, loc), or a `SiamMaskOutput` (``mask`` None; `mask` reads
        ``features`` and ``corr``)."""
        leaves, _ = flatten_kernels(kernels)
        b = x.shape[0]
        if any(b % k.shape[0] for k in leaves):
            got = [k.shape[0] for k in leaves]
            raise ValueError(f"kernel batches {got} do not divide search batch {b}")
        # kernel i serves search images [i n, (i + 1) n) (`search_per_kernel`); the graphs
        # take one batch for both
        leaves = [k if k.shape[0] == b else k.repeat_interleave(b // k.shape[0], 0) for k in leaves]
        outs = self._graph(f"track_{x.shape[-1]}")(*leaves, x)
        if self.output_kind == "response":
            return outs[0]
        if self.output_kind == "rpn":
            return outs[0], outs[1]
        cls, loc, corr, *features = outs
        return SiamMaskOutput(cls=cls, loc=loc, mask=None, features=features, corr=corr)

    def mask(self, outputs: SiamMaskOutput, pos: tuple[int, int] | None = None) -> torch.Tensor:
        """Mask logits (B, 1, m, m) at score-map position ``pos`` (y, x) of every sample."""
        if pos is None:
            raise ValueError("ExportedNet.mask needs a position (y, x); use mask_rows for many")
        b = outputs.corr.shape[0]
        cells = torch.tensor([[i, int(pos[0]), int(pos[1])] for i in range(b)])
        return self.mask_rows(outputs, cells)

    def mask_rows(
        self, outputs: SiamMaskOutput, rows: torch.Tensor, *, refine: bool | None = None
    ) -> torch.Tensor:
        """Mask logits (N, 1, m, m) at cells (N, 3) of (b, y, x) or rows (N,) into B * S * S
        (``refine``: None or what the exported net has; the graph is the one exported)."""
        if refine is not None and bool(refine) != self.has_refine:
            raise ValueError(
                f"mask_rows(refine={refine}): the exported net's refine is {self.has_refine}"
            )
        corr = outputs.corr
        b, _, sh, sw = corr.shape
        cells = torch.as_tensor(rows).long().cpu()
        if cells.ndim == 1:
            cells = torch.stack([cells // (sh * sw), cells % (sh * sw) // sw, cells % sw], 1)
        limits = torch.tensor([b, sh, sw])
        if cells.ndim != 2 or cells.shape[1] != 3 or bool(((cells < 0) | (cells >= limits)).any()):
            raise ValueError(
                f"mask cells (b, y, x) must lie in {b}x{sh}x{sw}, got {cells.tolist()}"
            )
        args = [*outputs.features, corr] if self.has_refine else [corr]
        return self._graph(f"mask_{sh}")(*args, cells)[0]


def is_export_dir(path: str | Path) -> bool:
    """True for a directory holding a ``tracker.yaml`` (written by ``siamlightning-export``)."""
    return (Path(path).expanduser() / TRACKER_YAML).is_file()


def read_spec(directory: str | Path) -> dict[str, Any]:
    """The parsed ``tracker.yaml`` of an export directory (`ConfigError` when absent/invalid)."""
    import yaml

    path = Path(directory) / TRACKER_YAML
    if not path.is_file():
        raise ConfigError(f"{directory} is not an export directory: no {TRACKER_YAML}")
    spec = yaml.safe_load(path.read_text())
    missing = [k for k in ("format", "files", "kernels", "net", "tracker") if k not in (spec or {})]
    if missing:
        raise ConfigError(f"{path}: missing entries {missing} (written by siamlightning-export?)")
    return spec

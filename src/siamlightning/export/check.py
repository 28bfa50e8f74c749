"""`check_export`: an export directory's graphs against the eager net on random crops.

Runs `ExportedNet` (the same path `load_tracker(DIR)` takes) and the original net on random
exemplar and search crops of batch 1 and 3 (every graph at both batch sizes), and for SiamMask
the mask at a few cells; reports the largest absolute difference per output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from siamlightning.errors import SiamLightningError
from siamlightning.tracking.exported import ExportedNet, flatten_kernels, read_spec


class ExportMismatchError(SiamLightningError):
    """An exported graph's outputs differ from the eager net's beyond the tolerance."""


@dataclass
class CheckResult:
    """Largest |exported - eager| per output name, and the largest |eager| it is measured on."""

    max_abs_diff: dict[str, float] = field(default_factory=dict)
    max_abs_value: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, got: torch.Tensor, want: torch.Tensor) -> None:
        """Fold one output pair in."""
        d = float((got.float() - want.float()).abs().max())
        v = float(want.float().abs().max())
        self.max_abs_diff[name] = max(self.max_abs_diff.get(name, 0.0), d)
        self.max_abs_value[name] = max(self.max_abs_value.get(name, 0.0), v)

    def worst_relative(self) -> float:
        """max over outputs of diff / max(1, |value|)."""
        return max(d / max(1.0, self.max_abs_value[n]) for n, d in self.max_abs_diff.items())


def _outputs(out: Any) -> dict[str, torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return {"response": out}
    if hasattr(out, "corr"):
        named = {"cls": out.cls, "loc": out.loc, "corr": out.corr}
        return {**named, **{f"p{i}": f for i, f in enumerate(out.features)}}
    return {"cls": out[0], "loc": out[1]}


def check_export(
    directory: str | Path,
    net: nn.Module,
    *,
    rtol: float = 1e-4,
    seed: int = 0,
    batches: tuple[tuple[int, int], ...] = ((1, 1), (3, 3)),
) -> CheckResult:
    """Compare the graphs in ``directory`` with ``net`` on random crops, for each (template
    batch, search batch) of ``batches`` (template batch 1 with search batch B: the kernels are
    expanded); raise `ExportMismatchError` when an output differs by more than
    ``rtol * max(1, max|eager output|)``."""
    spec = read_spec(directory)
    exported = ExportedNet(directory=directory, spec=spec)
    net = net.cpu().eval()
    result = CheckResult()
    gen = torch.Generator().manual_seed(seed)
    e = int(spec["net"]["exemplar_size"])
    with torch.no_grad():
        for size in sorted(int(s) for s in spec["files"]["track"]):
            for kb, b in batches:
                z = torch.rand(kb, 3, e, e, generator=gen) * 255
                x = torch.rand(b, 3, size, size, generator=gen) * 255
                want_k, got_k = net.template(z), exported.template(z)
                for i, (g, w) in enumerate(
                    zip(flatten_kernels(got_k)[0], flatten_kernels(want_k)[0])
                ):
                    result.add(f"k{i}", g, w)
                want, got = net(want_k, x), exported(got_k, x)
                got_out = _outputs(got)  # without a refine head no search maps are exported
                for name, w in _outputs(want).items():
                    if name in got_out or not name.startswith("p"):
                        result.add(name, got_out[name], w)
                if spec["net"]["output_kind"] == "rpn_mask":
                    s = want.cls.shape[-1]
                    cells = torch.tensor(
                        [[b - 1, s // 2, s // 2], [0, 0, s - 1], [b - 1, s - 1, 1]]
                    )
                    result.add("mask", exported.mask_rows(got, cells), net.mask_rows(want, cells))
    bad = {
        n: d for n, d in result.max_abs_diff.items() if d > rtol * max(1.0, result.max_abs_value[n])
    }
    if bad:
        raise ExportMismatchError(
            f"{directory}: exported graphs differ from the eager net beyond rtol {rtol}: "
            + ", ".join(
                f"{n} {d:.3g} (|max| {result.max_abs_value[n]:.3g})" for n, d in bad.items()
            )
        )
    return result

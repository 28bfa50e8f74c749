"""Benchmark plots: OTB-style success / precision plots (legend ranked by score), EAO curves and
AR plots, from typed results (`siamlightning.evaluation.result`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from siamlightning.evaluation.result import Results, Scores

_STYLE = [("-", "o"), ("--", "s"), ("-.", "^"), (":", "D")]


def _ranked(curves: Mapping[str, tuple[np.ndarray, float]]) -> list[tuple[str, np.ndarray, float]]:
    return sorted(((k, np.asarray(c), s) for k, (c, s) in curves.items()), key=lambda r: -r[2])


def _finish(ax: Any, fig: Any, title: str, xlabel: str, ylabel: str, path: Path) -> Path:
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1.0)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower left" if "Success" in title else "lower right", fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def success_plot(
    curves: Mapping[str, tuple[np.ndarray, float]], path: str | Path, *, title: str = "Success"
) -> Path:
    """OTB success plot: ``{tracker: (curve (21,), auc)}`` -> PNG, legend ranked by AUC."""
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for k, (name, curve, score) in enumerate(_ranked(curves)):
        x = np.linspace(0, 1, len(curve))
        ls, _ = _STYLE[(k // 10) % len(_STYLE)]
        ax.plot(x, curve, ls, lw=2, label=f"[{score:.3f}] {name}")
    ax.set_xlim(0, 1)
    return _finish(ax, fig, f"Success plots of OPE - {title}", "Overlap threshold",
                   "Success rate", Path(path))  # fmt: skip


def precision_plot(
    curves: Mapping[str, tuple[np.ndarray, float]],
    path: str | Path,
    *,
    title: str = "Precision",
    normalized: bool = False,
) -> Path:
    """OTB precision plot: ``{tracker: (curve (51,), value at 20 px)}`` -> PNG, ranked legend."""
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    xmax = 0.5 if normalized else 50.0
    for k, (name, curve, score) in enumerate(_ranked(curves)):
        x = np.linspace(0, xmax, len(curve))
        ls, _ = _STYLE[(k // 10) % len(_STYLE)]
        ax.plot(x, curve, ls, lw=2, label=f"[{score:.3f}] {name}")
    ax.set_xlim(0, xmax)
    kind = "Normalized precision" if normalized else "Precision"
    xlabel = "Normalized location error threshold" if normalized else "Location error threshold"
    return _finish(ax, fig, f"{kind} plots of OPE - {title}", xlabel, kind, Path(path))


def eao_plot(
    curves: Mapping[str, tuple[np.ndarray, float]],
    path: str | Path,
    *,
    interval: tuple[int, int] | None = None,
    title: str = "Expected average overlap",
) -> Path:
    """EAO curves ``{tracker: (curve (L,), eao)}`` over sequence length, interval shaded."""
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for name, curve, score in _ranked(curves):
        ax.plot(np.arange(1, len(curve) + 1), curve, lw=1.5, label=f"[{score:.3f}] {name}")
    if interval is not None:
        ax.axvspan(interval[0], interval[1], color="gray", alpha=0.15)
    ax.set_xscale("log")
    return _finish(ax, fig, title, "Sequence length", "Expected overlap", Path(path))


def ar_plot(
    points: Mapping[str, tuple[float, float]], path: str | Path, *, title: str = "AR"
) -> Path:
    """Accuracy-robustness plot: ``{tracker: (accuracy, robustness in [0, 1])}`` -> PNG."""
    fig, ax = plt.subplots(figsize=(5.0, 5.0))
    for name, (acc, rob) in sorted(points.items(), key=lambda kv: -kv[1][0]):
        ax.scatter([rob], [acc], s=40, label=f"{name} (A {acc:.3f}, R {rob:.3f})")
    ax.set_xlim(0, 1)
    return _finish(ax, fig, f"AR plot - {title}", "Robustness", "Accuracy", Path(path))


def attribute_name(code: str) -> str:
    """Full name of an OTB / LaSOT attribute code (the code itself when unknown)."""
    from siamlightning.data.sources._otb_attributes import OTB_ATTRIBUTE_NAMES
    from siamlightning.data.sources.lasot import LASOT_ATTRIBUTES

    return OTB_ATTRIBUTE_NAMES.get(code) or LASOT_ATTRIBUTES.get(code) or code


def _curves(scores: Scores, curve: str, score: str) -> tuple[np.ndarray, float] | None:
    value = scores.values.get(score)
    if curve in scores.curves and value is not None and np.isfinite(value):
        return np.asarray(scores.curves[curve]), float(value)
    return None


def _pair(named: Mapping[str, Scores], out_dir: Path, stem: str, title: str) -> list[Path]:
    succ = {n: c for n, v in named.items() if (c := _curves(v, "success", "success_auc"))}
    prec = {n: c for n, v in named.items() if (c := _curves(v, "precision", "precision_20"))}
    out = []
    if succ:
        out.append(success_plot(succ, out_dir / f"{stem}_success.png", title=title))
    if prec:
        out.append(precision_plot(prec, out_dir / f"{stem}_precision.png", title=title))
    return out


def ope_plots(results: Results, out_dir: str | Path) -> list[Path]:
    """Success and precision PNGs per benchmark from ``{benchmark: {tracker: result}}``, and per
    attribute (``<bench>_<CODE>_success.png``...) when the results have ``attributes``."""
    out: list[Path] = []
    folder = Path(out_dir)
    for bench, by_tracker in results.items():
        out += _pair({n: r.overall for n, r in by_tracker.items()}, folder, bench, bench)
        codes = sorted({c for r in by_tracker.values() for c in r.attributes})
        for code in codes:
            named = {n: r.attributes[code] for n, r in by_tracker.items() if code in r.attributes}
            count = max(int(v.counts.get("num_sequences", 0)) for v in named.values())
            title = f"{bench} - {attribute_name(code)} ({count})"
            out += _pair(named, folder / "attributes", f"{bench}_{code}", title)
    return out


def vot_plots(results: Results, out_dir: str | Path) -> list[Path]:
    """EAO curves (interval shaded) and the AR plot of each VOT benchmark's trackers:
    ``<bench>_eao.png``, ``<bench>_ar.png``."""
    out: list[Path] = []
    folder = Path(out_dir)
    for bench, by_tracker in results.items():
        vot = {t: r for t, r in by_tracker.items() if r.kind in ("vot", "vot_multistart")}
        if not vot:
            continue
        curves = {t: (r.overall.curves["eao"], r.overall.values["eao"]) for t, r in vot.items()}
        interval = next(iter(vot.values())).eao_interval
        out.append(eao_plot(curves, folder / f"{bench}_eao.png", interval=interval))
        ar = {t: (r.overall.values["accuracy"], r.robustness_fraction()) for t, r in vot.items()}
        out.append(ar_plot(ar, folder / f"{bench}_ar.png", title=bench))
    return out


def benchmark_plots(results: Results, out_dir: str | Path) -> list[Path]:
    """Every plot of ``{benchmark: {tracker: result}}``: `ope_plots`, then `vot_plots`."""
    return ope_plots(results, out_dir) + vot_plots(results, out_dir)

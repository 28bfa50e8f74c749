import numpy as np

from siamlightning.evaluation.plots import ar_plot, eao_plot, ope_plots
from siamlightning.evaluation.result import BenchmarkResult, Scores


def _ope(success, auc, precision, p20):
    values = {"success_auc": auc, "precision_20": p20}
    curves = {"success": success, "precision": precision}
    return BenchmarkResult(kind="ope", protocol="otb", overall=Scores(values=values, curves=curves))


def test_plots_are_written(tmp_path):
    curve = np.linspace(1, 0, 21)
    rep = {
        "bench": {
            "a": _ope(curve, 0.5, np.linspace(0, 1, 51), 0.4),
            "b": _ope(curve * 0.5, 0.25, np.linspace(0, 0.5, 51), 0.2),
        }
    }
    paths = ope_plots(rep, tmp_path)
    assert [p.name for p in paths] == ["bench_success.png", "bench_precision.png"]
    assert all(p.stat().st_size > 1000 for p in paths)
    assert eao_plot(
        {"a": (np.linspace(1, 0.2, 400), 0.3)}, tmp_path / "eao.png", interval=(100, 356)
    ).is_file()
    assert ar_plot({"a": (0.6, 0.8)}, tmp_path / "ar.png").is_file()

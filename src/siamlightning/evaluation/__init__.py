"""Benchmark runners (OPE, VOT reset-based and anchor-based), scorers, typed results, result
files and reports."""

from siamlightning.evaluation.benchmarks import (
    benchmark_kind,
    open_benchmark,
    run_benchmark,
    score_folder,
)
from siamlightning.evaluation.distributed import gather_results
from siamlightning.evaluation.ope import run_ope, score_ope, track_sequence
from siamlightning.evaluation.report import (
    format_table,
    results_table,
    to_jsonable,
    write_metrics_json,
)
from siamlightning.evaluation.result import BenchmarkResult, Results, Scores
from siamlightning.evaluation.result_files import (
    SequenceResult,
    read_ope_result,
    read_ope_results,
    read_times,
    write_ope_result,
    write_times,
)
from siamlightning.evaluation.vot_anchor_runner import AnchorRun, run_vot_multistart
from siamlightning.evaluation.vot_anchor_scoring import (
    read_trajectory,
    score_vot_multistart_folder,
)

__all__ = [
    "AnchorRun",
    "BenchmarkResult",
    "Results",
    "Scores",
    "SequenceResult",
    "benchmark_kind",
    "format_table",
    "gather_results",
    "open_benchmark",
    "read_ope_result",
    "read_ope_results",
    "read_times",
    "read_trajectory",
    "results_table",
    "run_benchmark",
    "run_ope",
    "run_vot_multistart",
    "score_folder",
    "score_ope",
    "score_vot_multistart_folder",
    "to_jsonable",
    "track_sequence",
    "write_metrics_json",
    "write_ope_result",
    "write_times",
]

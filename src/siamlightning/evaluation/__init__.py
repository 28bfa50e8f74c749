"""Benchmark runners (OPE), result files and reports."""

from siamlightning.evaluation.ope import gather_results, run_ope, score_ope, track_sequence
from siamlightning.evaluation.report import format_table, to_jsonable, write_metrics_json
from siamlightning.evaluation.results import (
    SequenceResult,
    read_ope_result,
    read_ope_results,
    read_times,
    write_ope_result,
    write_times,
)

__all__ = [
    "SequenceResult",
    "format_table",
    "gather_results",
    "read_ope_result",
    "read_ope_results",
    "read_times",
    "run_ope",
    "score_ope",
    "to_jsonable",
    "track_sequence",
    "write_metrics_json",
    "write_ope_result",
    "write_times",
]

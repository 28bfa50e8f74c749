"""Benchmark runners (OPE), result files and reports."""

from siamlightning.evaluation.ope import gather_results, run_ope, score_ope, track_sequence
from siamlightning.evaluation.report import format_table, to_jsonable, write_metrics_json
from siamlightning.evaluation.result_files import (
    SequenceResult,
    read_ope_result,
    read_ope_results,
    read_times,
    write_ope_result,
    write_times,
)
from siamlightning.evaluation.vot_anchor_experiment import (
    AnchorRun,
    read_trajectory,
    run_vot_multistart,
    score_vot_multistart_folder,
)

__all__ = [
    "AnchorRun",
    "SequenceResult",
    "format_table",
    "gather_results",
    "read_ope_result",
    "read_ope_results",
    "read_times",
    "read_trajectory",
    "run_ope",
    "run_vot_multistart",
    "score_ope",
    "score_vot_multistart_folder",
    "to_jsonable",
    "track_sequence",
    "write_metrics_json",
    "write_ope_result",
    "write_times",
]

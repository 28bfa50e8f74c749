"""What a tracker search leaves in its sweep folder: ``trials.csv``, a table of all trials ranked
by score, and ``best_tracker.yaml`` (the tracker config with the best trial's parameters)."""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.trial import FrozenTrial, TrialState

from siamlightning.evaluation.report import format_table

__all__ = ["best_trial", "trial_rows", "write_best_tracker", "write_trials"]

OBJECTIVE_ATTR = "objective"  # trial user attr: the name of the score the job returned


def _value(trial: FrozenTrial) -> float:
    return math.nan if trial.value is None else float(trial.value)


def _ranked(study: optuna.Study) -> list[FrozenTrial]:
    """Finished trials best first (by the study's direction), then the others by number."""
    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.state == TrialState.COMPLETE and math.isfinite(_value(t))]
    sign = -1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else 1.0
    done.sort(key=lambda t: (sign * _value(t), t.number))
    rest = sorted((t for t in trials if t not in done), key=lambda t: t.number)
    return done + rest


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The best complete trial with a finite score, or None."""
    ranked = _ranked(study)
    return ranked[0] if ranked and ranked[0].state == TrialState.COMPLETE else None


def trial_rows(study: optuna.Study) -> list[dict[str, Any]]:
    """One row per trial, best first: rank, trial, state, the score, parameters, seconds, job."""
    rows = []
    ranked = _ranked(study)
    for rank, t in enumerate(ranked, 1):
        name = str(t.user_attrs.get(OBJECTIVE_ATTR, "score"))
        seconds = t.duration.total_seconds() if t.duration is not None else math.nan
        complete = t.state == TrialState.COMPLETE and math.isfinite(_value(t))
        rows.append(
            {
                "rank": rank if complete else "",
                "trial": t.number,
                "state": t.state.name.lower(),
                "objective": name,
                "score": _value(t),
                **{k: t.params[k] for k in sorted(t.params)},
                "seconds": round(seconds, 2),
                "job_dir": t.user_attrs.get("job_dir", ""),
                "error": t.user_attrs.get("error", ""),
                "note": t.user_attrs.get("note", ""),
            }
        )
    return rows


def write_trials(study: optuna.Study, sweep_dir: Path) -> str:
    """Write ``trials.csv`` into ``sweep_dir``; return the console table of the same rows."""
    rows = trial_rows(study)
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    sweep_dir.mkdir(parents=True, exist_ok=True)
    with open(sweep_dir / "trials.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    shown = [c for c in columns if c not in ("trial", "objective", "job_dir", "error", "note")]
    table = {str(r["trial"]): {c: r.get(c, "") for c in shown} for r in rows}
    title = f"{study.study_name}: {len(rows)} trials, best first"
    return title + "\n" + format_table(table, shown, index_name="trial")


def write_best_tracker(
    study: optuna.Study,
    sweep_dir: Path,
    *,
    tracker: Mapping[str, Any],
    source: Mapping[str, Any],
) -> Path | None:
    """Write ``best_tracker.yaml``: ``tracker`` (a full tracker config) with the best trial's
    parameters, those parameters, its score and the checkpoint / benchmark it was found with
    (``source``: ckpt, weights, benchmark). None when no trial finished."""
    best = best_trial(study)
    if best is None:
        return None
    params = {k: best.params[k] for k in sorted(best.params)}
    doc = {
        **dict(source),
        "objective": str(best.user_attrs.get(OBJECTIVE_ATTR, "score")),
        "score": _value(best),
        "trial": best.number,
        "study": study.study_name,
        "params": params,
        "tracker": {**dict(tracker), **params},
    }
    path = sweep_dir / "best_tracker.yaml"
    head = (
        f"# best of {len(study.trials)} trials of study {study.study_name!r}.\n"
        f"#   siamlightning-eval tracker_file={path}            (ckpt, weights from here)\n"
        f"#   siamlightning.load_tracker(ckpt, **params)  or  load_tracker(ckpt, **tracker)\n"
    )
    path.write_text(head + yaml.safe_dump(doc, sort_keys=False))
    return path

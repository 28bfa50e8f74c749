"""Tracking hyper-parameter searches: `hydra/sweeper=tracker_search` (Optuna through Hydra).

`space` turns a tracker family's search space into trial overrides, `study` keeps the study
(storage, resume checks, stale trials), `report` writes what a sweep leaves (``trials.csv``,
the ranked table, ``best_tracker.yaml``) and `search` is the sweep loop the Hydra plugin
`hydra_plugins.siamlightning_sweeps.TrackerSearchSweeper` runs.
"""

"""Hydra entry points: ``siamlightning-train``, ``-eval``, ``-track``, ``-prep``."""

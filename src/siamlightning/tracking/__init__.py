"""Inference trackers: state, crops and post-processing around a stateless network."""

from siamlightning.tracking.base import Tracker, TrackResult

__all__ = ["TrackResult", "Tracker"]

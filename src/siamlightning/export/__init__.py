"""Export a tracker's network as graphs (ONNX, TorchScript, torch.export) + ``tracker.yaml``.

``export_tracker(net, tracker_cfg, DIR)`` writes them, ``check_export(DIR, net)`` compares them
with the eager net, and ``siamlightning.load_tracker(DIR)`` tracks with them (the same tracker
classes around a `siamlightning.tracking.exported.ExportedNet`). See docs/export.md.
"""

from __future__ import annotations

from siamlightning.export.check import CheckResult, ExportMismatchError, check_export
from siamlightning.export.writer import export_tracker, search_sizes

__all__ = ["CheckResult", "ExportMismatchError", "check_export", "export_tracker", "search_sizes"]

"""Score raw results of another tracker (OpenCV's MIL) with ``siamlightning-eval``, no model loaded.

Writes the real sequences (``../shared/data/real``, OTB layout) also in the VOT, LaSOT and
GOT-10k layouts, tracks them with ``cv2.TrackerMIL`` and writes its raw result files the way
other toolkits do (OTB ``<seq>.txt`` comma separated; pytracking-style tab-separated LaSOT files;
GOT-10k ``<seq>/<seq>_001.txt`` + times; VOT reset-based ``baseline/<seq>/<seq>_001.txt``), then
runs, for each layout, the command a user would type and prints its table::

    python scripts/demo/score_other_tracker.py --real ../shared/data/real --out /tmp/demo
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from siamlightning.data import open_dataset
from siamlightning.data.tools.writers import write_got10k, write_lasot, write_vot
from siamlightning.evaluation.vot_reset_runner import run_vot
from siamlightning.tracking.base import Tracker, TrackResult, check_init_box


class MIL(Tracker):
    """OpenCV's MIL tracker behind the `Tracker` interface (only for the VOT reset runner)."""

    def init(self, image: np.ndarray, box: np.ndarray) -> None:
        """Start on ``box`` (x, y, w, h) in an RGB image."""
        b = check_init_box(box, image)
        self._t = cv2.TrackerMIL_create()
        self._box = b
        self._t.init(image[..., ::-1].copy(), tuple(round(float(v)) for v in b))

    def track(self, image: np.ndarray) -> TrackResult:
        """Next box; keeps the last one when MIL reports a loss."""
        ok, box = self._t.update(image[..., ::-1].copy())
        if ok:
            self._box = np.asarray(box, dtype=np.float64)
        return TrackResult(box=self._box.copy(), score=float(ok))


def mil_trajectories(index) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Plain OpenCV loop: {name: (boxes (N, 4), seconds (N,))}, frame 0 = the GT box."""
    out = {}
    for seq in index:
        t = MIL()
        boxes, times = np.empty((len(seq), 4)), np.zeros(len(seq))
        boxes[0] = seq.boxes[0]
        t0 = time.perf_counter()
        t.init(seq.read_frame(0), seq.boxes[0])
        times[0] = time.perf_counter() - t0
        for i in range(1, len(seq)):
            img = seq.read_frame(i)
            t0 = time.perf_counter()
            boxes[i] = t.track(img).box
            times[i] = time.perf_counter() - t0
        out[seq.name] = (boxes, times)
    return out


def run(cmd: list[str]) -> None:
    """Print and run one CLI command, echoing its table."""
    print("\n$ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
    done = subprocess.run(cmd, capture_output=True, text=True)
    out = done.stdout
    print(out[out.find("name") :] if "name" in out else out, end="", flush=True)
    if done.returncode != 0:
        print(done.stderr[-3000:], file=sys.stderr)
        raise SystemExit(done.returncode)


def main() -> None:
    """Build the layouts, write MIL's results, score each layout from the CLI."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", type=Path, default=Path("../shared/data/real"))
    ap.add_argument("--out", type=Path, default=Path("/tmp/siamlightning-demo"))
    args = ap.parse_args()
    out = args.out.resolve()
    otb = open_dataset("otb", args.real)
    got = write_got10k(otb, out / "data" / "got10k", split="val")
    vot = write_vot(otb, out / "data" / "vot")
    lasot = write_lasot(otb, out / "data" / "lasot")
    traj = mil_trajectories(otb)
    res = out / "results"
    for name, (boxes, times) in traj.items():
        (res / "otb" / "MIL").mkdir(parents=True, exist_ok=True)
        np.savetxt(res / "otb" / "MIL" / f"{name}.txt", boxes, fmt="%.2f", delimiter=",")
        (res / "lasot" / "MIL").mkdir(parents=True, exist_ok=True)
        np.savetxt(res / "lasot" / "MIL" / f"{name}.txt", boxes, fmt="%d", delimiter="\t")
        g = res / "got10k" / "MIL" / name
        g.mkdir(parents=True, exist_ok=True)
        np.savetxt(g / f"{name}_001.txt", boxes, fmt="%.4f", delimiter=",")
        np.savetxt(g / f"{name}_time.txt", times, fmt="%.8f")
    run_vot(MIL, open_dataset("vot", vot), res / "vot" / "MIL", repetitions=15, progress=False)
    exe = [sys.executable, "-m", "siamlightning.cli.eval"]
    for bench, root in (("otb", args.real.resolve()), ("lasot_style", lasot), ("got10k_val", got),
                        ("vot", vot)):  # fmt: skip
        layout = bench.split("_")[0]
        run([*exe, f"results={res / layout / 'MIL'}", f"benchmark={bench}",
             f"benchmark.root={root}", f"hydra.run.dir={out / 'runs' / bench}"])  # fmt: skip


if __name__ == "__main__":
    main()

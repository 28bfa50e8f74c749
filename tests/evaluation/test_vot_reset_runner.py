import numpy as np

from siamlightning.data.core.sequences import Sequence, SequenceIndex
from siamlightning.evaluation.vot_reset_runner import run_vot
from siamlightning.metrics.regions import FAILURE, INIT, UNKNOWN, Special, read_regions
from siamlightning.tracking.base import Tracker, TrackResult


class IndexFrames:
    """Frame i is a flat image of value i, so a fake tracker knows where it is."""

    def frame(self, i):
        return np.full((60, 80, 3), i, np.uint8)

    def mask(self, i):
        return None


class Scripted(Tracker):
    """Returns the ground-truth rectangle, or a far-away box on frames in ``fail_at``."""

    def __init__(self, boxes, fail_at, noise=None):
        self.boxes, self.fail_at, self.noise = boxes, set(fail_at), noise

    def init(self, image, box):
        self.inits = [*getattr(self, "inits", []), int(image[0, 0, 0])]

    def track(self, image):
        i = int(image[0, 0, 0])
        box = self.boxes[i].copy() if i not in self.fail_at else np.array([70.0, 50.0, 5, 5])
        if self.noise is not None:
            box[0] += self.noise.random() * 0.1
        return TrackResult(box=box, score=1.0)


def _seq(n=20):
    boxes = np.tile([10.0, 10.0, 20.0, 15.0], (n, 1))
    x, y, w, h = boxes.T
    poly = np.stack([x, y, x + w, y, x + w, y + h, x, y + h], axis=1)
    return Sequence("s", [f"f{i}" for i in range(n)], boxes, polygons=poly, renderer=IndexFrames())


def _codes(regions):
    return [r.code if isinstance(r, Special) else -1 for r in regions]


def test_failure_writes_2_skips_5_and_reinitialises(tmp_path):
    seq = _seq()
    runs = run_vot(
        lambda: Scripted(seq.boxes, fail_at=[3, 15]), SequenceIndex([seq]), tmp_path, progress=False
    )
    regions = runs["s"][0].regions
    expected = [INIT, -1, -1, FAILURE, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, INIT] + [-1] * 6
    expected += [FAILURE, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN]
    assert _codes(regions) == expected
    # deterministic: stops after 3 identical runs, and the files say so
    assert len(runs["s"]) == 3
    files = sorted((tmp_path / "baseline" / "s").glob("s_*.txt"))
    assert [f.name for f in files] == ["s_001.txt", "s_002.txt", "s_003.txt"]
    assert _codes(read_regions(files[0])) == expected


def test_stochastic_tracker_runs_all_repetitions():
    seq = _seq(8)
    rng = np.random.default_rng(0)
    runs = run_vot(
        lambda: Scripted(seq.boxes, fail_at=[], noise=rng),
        SequenceIndex([seq]),
        None,
        repetitions=15,
        progress=False,
    )
    assert len(runs["s"]) == 15

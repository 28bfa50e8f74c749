"""The pysot augmentation numbers, and bad data that never stops a training run."""

from __future__ import annotations

import functools
import logging
import re

import cv2
import lightning as L
import numpy as np
import pytest
import torch

from siamlightning.data import open_dataset
from siamlightning.data.core.crops import context_size
from siamlightning.data.pairs import augment
from siamlightning.data.pairs.datamodule import TrackingDataModule
from siamlightning.data.pairs.dataset import CropJitter, PairDataset
from siamlightning.data.pairs.sampling import PairSampler
from siamlightning.data.tools.writers import write_got10k
from siamlightning.lit.siamfc import SiamFCModule
from siamlightning.models.backbones.siamfc_alexnet import SiamFCAlexNet
from siamlightning.models.siamfc import SiamFCNet


def _image(seed=0, shape=(64, 80, 3)):
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (shape[0] // 4, shape[1] // 4, 3), dtype=np.uint8)
    return cv2.resize(small, shape[1::-1], interpolation=cv2.INTER_LINEAR)


def test_pca_colour_is_pysots_with_its_bgr_reversal():
    rgb = _image()
    ours = augment.Photometric(color="pca", color_prob=1.0)(rgb, np.random.default_rng(5))
    rng = np.random.default_rng(5)
    rng.random()  # the colour_prob draw
    offset = augment.PCA_RGB_VAR @ rng.standard_normal(3)  # pysot: np.dot(rgbVar, randn(3, 1))
    bgr = rgb[..., ::-1].astype(np.float64)
    pysot = bgr - offset[::-1]  # pysot: offset[::-1] ("bgr 2 rgb"), subtracted from BGR
    expected = np.clip(pysot[..., ::-1], 0, 255)
    assert np.abs(ours - expected).max() <= 0.5 + 1e-9
    assert np.abs(ours.astype(float) - rgb).mean() > 1  # it did change the colours


@pytest.mark.parametrize(("size", "wx"), [(5, 0.3), (21, 0.9), (45, 0.05)])
def test_line_blur_equals_pysots_filter2d(size, wx):
    img = _image(1, (120, 130, 3))
    fast = augment.line_blur(img, size, wx)
    slow = cv2.filter2D(img, -1, augment.line_blur_kernel(size, wx))
    assert np.abs(fast.astype(int) - slow).max() <= 1
    assert np.abs(fast.astype(int) - img).mean() > 2


def test_photometric_draws_only_from_the_rng():
    aug = augment.Photometric(color="jitter", blur_prob=0.5)
    img = _image(2)
    outs = [aug(img, np.random.default_rng(k)) for k in (7, 7, 8)]
    assert np.array_equal(outs[0], outs[1]) and not np.array_equal(outs[0], outs[2])
    with pytest.raises(ValueError, match="color must be one of"):
        augment.Photometric(color="hsv")


@pytest.fixture(scope="module")
def synth():
    return open_dataset("synthetic", None, seed=5, num_sequences=4, length=30)


def test_search_jitter_has_pysots_shift_and_scale(synth):
    """search shift 64 px / scale 0.18 at 255: the box moves up to 64/0.82 px and changes size by
    1/(1 +- 0.18); the template (4 / 0.05) barely moves; gray converts both crops."""
    ds = PairDataset(
        sources=[synth],
        sampler=PairSampler(frame_range=10),
        search_size=255,
        template_jitter=CropJitter(4, 0.05),
        search_jitter=CropJitter(64, 0.18),
        gray_prob=1.0,
    )
    shift, ratio, zshift = [], [], []
    for i in range(300):
        key = (0, 0, i)
        spec, s = ds.spec(key), ds[key]
        box = ds.pairs.box(*spec.x)
        nominal = box[2] * 127 / context_size(box[2], box[3])
        b = s["search_box"].numpy()
        shift.append(b[:2] + b[2:] / 2 - 127.5)
        ratio.append(b[2] / nominal)
        zb = s["template_box"].numpy()
        zshift.append(zb[:2] + zb[2:] / 2 - 63.5)
    shift, zshift = np.abs(shift), np.abs(zshift)
    assert shift.max() <= 64 / 0.82 + 1e-3 and shift.max() > 50
    assert 1 / 1.18 - 1e-4 <= min(ratio) < 0.9 and 1.1 < max(ratio) <= 1 / 0.82 + 1e-4
    assert zshift.max() <= 4 / 0.95 + 1e-3
    x = s["search"]
    assert torch.equal(x[0], x[1]) and torch.equal(x[1], x[2])


@pytest.fixture
def broken_got(tmp_path):
    """GOT-10k fixture with broken JPEGs (truncated, garbage, deleted) and bad annotation rows."""
    index = open_dataset(
        "synthetic", None, seed=9, num_sequences=4, length=16, width=160, height=120
    )
    root = write_got10k(index, tmp_path / "GOT-10k", split="train")
    seqs = sorted(p for p in (root / "train").iterdir() if p.is_dir())
    broken = []
    for k, seq in enumerate(seqs[:3]):
        for f in (2, 6, 10, 14):
            jpg = seq / f"{f + 1:08d}.jpg"
            if k == 0:
                jpg.write_bytes(jpg.read_bytes()[: jpg.stat().st_size // 2])  # truncated
            elif k == 1:
                jpg.write_bytes(b"\xff\xd8" + bytes(range(256)) * 8)  # garbage
            else:
                jpg.unlink()  # deleted
            broken.append(str(jpg))
    gt = seqs[0] / "groundtruth.txt"
    rows = gt.read_text().splitlines()
    rows[3], rows[4], rows[5] = "nan,nan,nan,nan", "10,10,0,0", "10,10,-20,15"
    gt.write_text("\n".join(rows) + "\n")
    empty = seqs[3] / "groundtruth.txt"  # a sequence with no usable box at all
    empty.write_text("0,0,0,0\n" * len(empty.read_text().splitlines()))
    return root, broken


def test_two_datasets_count_their_skips_independently(broken_got, caplog):
    root, _ = broken_got
    index = open_dataset("got10k", root, "train", cache=False, strict=False)
    a, b = (PairDataset(sources=[index], sampler=PairSampler(frame_range=8)) for _ in "ab")
    caplog.set_level(logging.WARNING, logger="siamlightning")
    skipped_a = sum(int(a[(0, 0, i)]["skipped"]) for i in range(24))
    assert skipped_a > 0 and a.skip_count == skipped_a and b.skip_count == 0
    caplog.clear()
    skipped_b = sum(int(b[(0, 0, i)]["skipped"]) for i in range(24))
    assert b.skip_count == skipped_b == skipped_a and a.skip_count == skipped_a
    assert "(1 in this worker so far)" in caplog.records[0].getMessage()  # b counts from 1


class _CountSkips(L.Callback):
    def __init__(self) -> None:
        self.per_epoch: dict[int, int] = {}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        e = trainer.current_epoch
        self.per_epoch[e] = self.per_epoch.get(e, 0) + int(batch["skipped"].sum())


def test_corrupt_frames_and_rows_never_stop_training(broken_got, caplog):
    root, broken = broken_got
    caplog.set_level(logging.INFO, logger="siamlightning")
    dm = TrackingDataModule(
        train_sources=[{"name": "got10k", "root": str(root), "split": "train"}],
        samples_per_epoch=48,
        batch_size=8,
        num_workers=0,
        color="pca",
        sampler=PairSampler(frame_range=8),
    )
    torch.manual_seed(0)
    net = SiamFCNet(backbone=SiamFCAlexNet(width=0.125))
    module = SiamFCModule(net=net, optimizer=functools.partial(torch.optim.SGD, lr=1e-3))
    counter = _CountSkips()
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
        callbacks=[counter],
    )
    trainer.fit(module, datamodule=dm)
    assert trainer.global_step == 2 * 48 // 8  # every step ran
    info = dm.train_set.pairs.summary[0]
    assert info["empty_sequences"] == 1  # the all-zero sequence is ignored and counted
    assert info["dropped"]["not_visible"] >= 16 + 3  # its 16 rows + NaN, zero, negative rows
    assert re.search(r"1 without a usable frame, ignored", caplog.text)
    for epoch, n in counter.per_epoch.items():
        assert n > 0  # some pairs hit a broken frame ...
        line = re.search(
            rf"epoch {epoch}: (\d+) unusable training frames were skipped \(first: (.*?)\)",
            caplog.text,
        )
        assert line and int(line.group(1)) == n  # ... and the epoch summary counts them all
        assert any(b in line.group(2) for b in broken)

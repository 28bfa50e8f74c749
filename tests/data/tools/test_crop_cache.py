"""The 511-px crop cache: region decoding, build/resume, and the same pairs as on the fly."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from siamlightning.data import open_dataset
from siamlightning.data.pairs import augment
from siamlightning.data.pairs.datamodule import TrackingDataModule
from siamlightning.data.pairs.dataset import CropJitter, PairDataset
from siamlightning.data.pairs.sampling import PairSampler
from siamlightning.data.tools.crop_cache import CropCache, build_crop_cache, crop_path
from siamlightning.data.tools.jpeg import decode_region
from siamlightning.data.tools.writers import write_got10k
from siamlightning.errors import FrameReadError


@pytest.fixture(scope="module")
def got(tmp_path_factory: pytest.TempPathFactory):
    """A GOT-10k-layout fixture (4 synthetic sequences of 20 frames, some absent)."""
    index = open_dataset(
        "synthetic", None, seed=3, num_sequences=4, length=20, width=320, height=240
    )
    root = write_got10k(index, tmp_path_factory.mktemp("got") / "GOT-10k", split="train")
    return open_dataset("got10k", root, "train")


@pytest.fixture(scope="module")
def cache(got, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cache") / "crop511"
    summary = build_crop_cache(got, out, quality=95, workers=2, progress=False)
    assert summary["crops"] == sum(int(s.visible.sum()) for s in got) == summary["written"]
    assert summary["failed"] == 0
    return out


def _restart_jpeg(tmp_path: Path, size=(200, 300)) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (size[0] // 8, size[1] // 8, 3), dtype=np.uint8)
    img = cv2.resize(small, size[::-1], interpolation=cv2.INTER_CUBIC)
    path = tmp_path / "r.jpg"
    params = [cv2.IMWRITE_JPEG_QUALITY, 90, cv2.IMWRITE_JPEG_RST_INTERVAL, 1]
    path.write_bytes(cv2.imencode(".jpg", img, params)[1].tobytes())
    return path, cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR_RGB)


@pytest.mark.parametrize(
    "box", [(40, 30, 140, 90), (0, 0, 17, 9), (250, 150, 300, 200), (-5, 190, 400, 260)]
)
def test_decode_region_equals_the_full_decode_inside(tmp_path, box):
    path, full = _restart_jpeg(tmp_path)
    img, ox, oy = decode_region(path, box)
    assert ox % 16 == 0 and oy % 16 == 0 and ox <= max(box[0], 0) and oy <= max(box[1], 0)
    h, w = img.shape[:2]
    assert ox + w >= min(box[2], 300) and oy + h >= min(box[3], 200)
    assert h * w < full.shape[0] * full.shape[1] or (ox, oy, w, h) == (0, 0, 300, 200)
    ref = full[oy : oy + h, ox : ox + w]
    # identical except within 2 px of an inner cut (chroma upsampling looks across it)
    x0 = 2 if ox > 0 else 0
    y0 = 2 if oy > 0 else 0
    x1 = w - 2 if ox + w < 300 else w
    y1 = h - 2 if oy + h < 200 else h
    np.testing.assert_array_equal(img[y0:y1, x0:x1], ref[y0:y1, x0:x1])


def test_decode_region_reads_other_files_whole_and_names_bad_ones(tmp_path):
    img = np.full((40, 50, 3), 77, np.uint8)
    plain = tmp_path / "plain.jpg"
    plain.write_bytes(cv2.imencode(".jpg", img)[1].tobytes())
    out, ox, oy = decode_region(plain, (10, 10, 20, 20))
    assert out.shape == (40, 50, 3) and (ox, oy) == (0, 0)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(plain.read_bytes()[:200])
    with pytest.raises(FrameReadError, match=r"bad\.jpg"):
        decode_region(bad, (0, 0, 5, 5))
    with pytest.raises(FrameReadError, match=r"missing\.jpg"):
        decode_region(tmp_path / "missing.jpg", (0, 0, 5, 5))


def test_cache_layout_index_and_resume(got, cache, tmp_path):
    seq = got[1]
    f = int(np.flatnonzero(seq.visible)[3])
    path = crop_path(cache, seq.name, f)
    assert path == cache / seq.name / f"{f:06d}.x.jpg"
    assert cv2.imread(str(path)).shape == (511, 511, 3)
    meta = json.loads((cache / "crop_cache.json").read_text())
    assert meta["size"] == 511 and meta["exemplar"] == 127 and meta["context"] == 0.5
    cc = CropCache(cache)
    row = cc.lookup(seq.name, f)
    assert row >= 0 and cc.lookup(seq.name, 10_000) == -1 and cc.lookup("nope", 0) == -1
    box = seq.boxes[f]
    cx, cy, side = cc.geom[row]
    assert (cx, cy) == pytest.approx((box[0] + box[2] / 2, box[1] + box[3] / 2))
    p = 0.5 * (box[2] + box[3])
    assert side == pytest.approx(np.sqrt((box[2] + p) * (box[3] + p)) * 511 / 127)
    # resume: a copy with one crop and one sequence record gone rewrites exactly that crop
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(cache, copy)
    (copy / seq.name / f"{f:06d}.x.jpg").unlink()
    (copy / seq.name / "crops.npz").unlink()
    (copy / seq.name / "junk.x.jpg.tmp").write_bytes(b"half")  # an interrupted write
    again = build_crop_cache(got, copy, quality=95, workers=1, progress=False)
    assert again["written"] == 1 and again["existing"] == again["crops"] - 1
    np.testing.assert_array_equal(np.load(copy / "crop_index.npz")["geom"], cc.geom)
    with pytest.raises(ValueError, match="cache built with"):
        build_crop_cache(got, copy, size=255, workers=1, progress=False)


def _pairs(got, cache=None, **kw):
    return PairDataset(
        sources=[got],
        sampler=PairSampler(frame_range=10, neg_prob=0.2),
        search_size=255,
        template_jitter=CropJitter(4, 0.05),
        search_jitter=CropJitter(64, 0.18),
        gray_prob=0.2,
        augment_z=augment.Photometric(color="pca"),
        augment_x=augment.Photometric(color="pca", blur_prob=0.2),
        caches=[cache],
        **kw,
    )


def test_cache_path_gives_the_same_samples_as_full_frames(got, cache):
    """Same pairs, boxes and augmentation draws; pixels within JPEG q95 + resampling error."""
    fly, cached = _pairs(got), _pairs(got, cache)
    errs = {"template": [], "search": []}
    for i in range(40):
        a, b = fly[(0, 0, i)], cached[(0, 0, i)]
        for k in ("template_box", "search_box"):
            np.testing.assert_allclose(a[k].numpy(), b[k].numpy(), atol=1e-3)
        assert bool(a["negative"]) == bool(b["negative"]) and int(a["source"]) == int(b["source"])
        for k in errs:
            errs[k].append((a[k].float() - b[k].float()).abs().mean().item())
    # measured: template 1.8 mean / 3.5 max, search 0.8 / 1.6 (0..255 scale, quality 95)
    assert np.mean(errs["template"]) < 4 and np.max(errs["template"]) < 6
    assert np.mean(errs["search"]) < 4 and np.max(errs["search"]) < 6
    # against a different pair the difference is large: the comparison can fail
    other = cached[(0, 0, 1000)]["search"].float()
    assert (fly[(0, 0, 0)]["search"].float() - other).abs().mean() > 15


def test_cache_of_a_sequence_that_is_not_cached_reads_full_frames(got, cache):
    fly = _pairs(got)
    partial = CropCache(cache)
    partial._seq.pop(got[0].name)  # as if the cache had been built without sequence 0
    mixed = _pairs(got, partial)
    keys = [(0, 0, i) for i in range(30) if fly.spec((0, 0, i)).z[1] == 0][:3]
    assert keys
    for key in keys:
        assert torch.equal(fly[key]["template"], mixed[key]["template"])


def test_datamodule_sources_take_frame_range_num_use_and_crop_cache(got, cache):
    root = str(Path(got[0].frames[0]).parents[2])
    dm = TrackingDataModule(
        train_sources=[
            {"name": "got10k", "root": root, "split": "train", "num_use": 30,
             "frame_range": 3, "crop_cache": str(cache)},
            {"name": "synthetic", "options": {"num_sequences": 5, "length": 10}},
        ],
        num_workers=0,
    )  # fmt: skip
    dm.setup("fit")
    ds = dm.train_set
    assert isinstance(ds.caches[0], CropCache) and ds.caches[1] is None
    assert [i["frame_range"] for i in ds.pairs.summary] == [3, 100]
    np.testing.assert_allclose(ds.pairs.probabilities, [30 / 35, 5 / 35])  # num_use; -1 = all 5
    sample = ds[(0, 0, 0)]
    assert sample["search"].shape == (3, 239, 239) and sample["skip_note"] == ""
    with pytest.raises(ValueError, match="crop_cach"):
        TrackingDataModule(train_sources=[{"name": "synthetic", "crop_cach": "x"}])

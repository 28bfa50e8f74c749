"""DAVIS reader: 2017 per-object sequences, 2016 single objects, split files, test-dev, errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from siamlightning.data import available_sources, open_dataset
from siamlightning.data.core.masks import read_object_mask
from siamlightning.data.pairs.dataset import PairDataset
from siamlightning.data.pairs.sampling import PairSampler
from siamlightning.data.sources import davis
from siamlightning.errors import DataError

H, W = 20, 30
_JPEG = cv2.imencode(".jpg", np.full((H, W, 3), 60, np.uint8))[1].tobytes()


def labels_of(objects: dict[int, tuple[int, int, int, int]]) -> np.ndarray:
    """Id image (H, W) with object id filling rows r0..r1, cols c0..c1 (inclusive)."""
    a = np.zeros((H, W), np.uint8)
    for oid, (r0, r1, c0, c1) in objects.items():
        a[r0 : r1 + 1, c0 : c1 + 1] = oid
    return a


def write_png(path: Path, labels: np.ndarray) -> None:
    """A DAVIS 2017 style palette PNG (Pillow, mode P, VOC-like colours)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(labels, mode="P")
    im.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [50] * (253 * 3))
    im.save(path)


def write_seq(root: Path, name: str, frames: list[dict], res: str = "480p") -> None:
    """JPEGs 00000.jpg.. and one palette PNG per frame (None: no PNG for that frame)."""
    for k, objs in enumerate(frames):
        d = root / "JPEGImages" / res / name
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{k:05d}.jpg").write_bytes(_JPEG)
        if objs is not None:
            write_png(root / "Annotations" / res / name / f"{k:05d}.png", labels_of(objs))


# dogs: object 2 vanishes in frame 2 and comes back in frame 3
_DOGS = [
    {1: (1, 4, 2, 6), 2: (10, 15, 20, 27)},
    {1: (2, 5, 3, 7), 2: (11, 15, 21, 27)},
    {1: (2, 5, 3, 7)},
    {1: (0, 0, 0, 0), 2: (19, 19, 29, 29)},
]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A DAVIS 2017 trainval folder: dogs (train, 2 objects), bear (val), cows (test-dev)."""
    r = tmp_path / "DAVIS"
    write_seq(r, "dogs", _DOGS)
    write_seq(r, "bear", [{1: (3, 8, 4, 9)}, {1: (4, 9, 5, 10)}])
    write_seq(r, "cows", [{1: (0, 3, 0, 3), 4: (5, 6, 7, 8)}, None, None])
    sets = r / "ImageSets"
    for year, split, names in (
        ("2017", "train", "dogs\n"),
        ("2017", "val", "bear\n\n"),
        ("2017", "test-dev", "cows\n"),
        ("2016", "train", "dogs\n"),
    ):
        (sets / year).mkdir(parents=True, exist_ok=True)
        (sets / year / f"{split}.txt").write_text(names)
    return r


def test_2017_one_sequence_per_object(root: Path) -> None:
    assert {"davis", "youtube_vos"} <= set(available_sources())
    assert davis.VERSION == 2  # 2: meta["mask_format"]
    index = open_dataset("davis", root)
    assert index.names == ["dogs-1", "dogs-2"] and index.name == "davis"
    d1, d2 = index
    assert [Path(f).name for f in d1.frames] == [f"{k:05d}.jpg" for k in range(4)]
    assert d1.boxes.tolist() == [[2, 1, 5, 4], [3, 2, 5, 4], [3, 2, 5, 4], [0, 0, 1, 1]]
    assert d2.boxes[0].tolist() == [20, 10, 8, 6] and d2.boxes[3].tolist() == [29, 19, 1, 1]
    assert np.isnan(d2.boxes[2]).all() and d2.absent.tolist() == [False, False, True, False]
    assert d2.meta["pixels"].tolist() == [48, 35, 0, 1]
    assert (d2.meta["mask_id"], d2.meta["width"], d2.meta["height"]) == (2, 30, 20)
    assert read_object_mask(d2.masks[1], d2.meta["mask_id"]).sum() == 35
    assert read_object_mask(d1.masks[1], d1.meta["mask_id"]).sum() == 20
    assert d2.read_mask(1).sum() == 35  # Sequence.read_mask: this object only
    assert d2.masks[0] == d1.masks[0] and not d1.meta.get("first_frame_only")
    bear = davis.load(root, "val", workers=2)
    assert bear.names == ["bear-1"] and bear[0].boxes.tolist() == [[4, 3, 6, 6], [5, 4, 6, 6]]


def test_2016_single_object(root: Path, tmp_path: Path) -> None:
    dogs = davis.load(root, year=2016)[0]  # 2017 package, 2016 list: union of the objects
    assert dogs.name == "dogs" and "mask_id" not in dogs.meta
    assert dogs.boxes[0].tolist() == [2, 1, 26, 15] and dogs.boxes[2].tolist() == [3, 2, 5, 4]
    assert dogs.boxes[3].tolist() == [0, 0, 30, 20] and dogs.meta["pixels"][3] == 2
    assert dogs.read_mask(0).sum() == 20 + 48
    # the DAVIS 2016 package: binary 0/255 grayscale masks, ImageSets/480p path lines
    r16 = tmp_path / "DAVIS2016"
    lines = []
    for k, (r0, r1, c0, c1) in enumerate([(2, 4, 3, 9), (3, 5, 4, 10)]):
        mask = np.zeros((H, W), np.uint8)
        mask[r0 : r1 + 1, c0 : c1 + 1] = 255
        for sub, data in (("JPEGImages", None), ("Annotations", mask)):
            d = r16 / sub / "480p" / "blackswan"
            d.mkdir(parents=True, exist_ok=True)
            if data is None:
                (d / f"{k:05d}.jpg").write_bytes(_JPEG)
            else:
                cv2.imwrite(str(d / f"{k:05d}.png"), data)
        lines.append(
            f"/JPEGImages/480p/blackswan/{k:05d}.jpg /Annotations/480p/blackswan/{k:05d}.png"
        )
    (r16 / "ImageSets" / "480p").mkdir(parents=True)
    (r16 / "ImageSets" / "480p" / "train.txt").write_text("\n".join(lines) + "\n")
    (swan,) = davis.load(r16, year="2016")
    assert swan.name == "blackswan" and swan.boxes.tolist() == [[3, 2, 7, 3], [4, 3, 7, 3]]
    assert swan.read_mask(1).sum() == 21 and swan.meta["year"] == 2016


def test_test_dev_first_frame_only(root: Path) -> None:
    c1, c4 = davis.load(root, "test-dev")
    assert (c1.name, c4.name) == ("cows-1", "cows-4") and c4.meta["first_frame_only"]
    assert c4.boxes[0].tolist() == [7, 5, 2, 2] and np.isnan(c4.boxes[1:]).all()
    assert c4.masks[1:] == ["", ""] and len(c1) == 3


def test_bad_input_names_the_file(root: Path) -> None:
    png = root / "Annotations" / "480p" / "dogs" / "00002.png"
    png.unlink()
    with pytest.warns(UserWarning, match=r"1 frame\(s\) have no annotation PNG.*dogs/00002\.png"):
        d1, d2 = davis.load(root)
    assert np.isnan(d1.boxes[2]).all() and d1.masks[2] == "" and d2.visible.tolist()[3]
    with pytest.raises(DataError, match=r"dogs/00002\.png: frame without annotation PNG"):
        davis.load(root, strict=True)
    png.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(DataError, match=r"dogs/00002\.png: cannot decode annotation PNG"):
        davis.load(root)
    (root / "JPEGImages" / "480p" / "dogs" / "00002.jpg").unlink()
    with pytest.raises(DataError, match=r"00002\.png: annotation without its frame: .*00002\.jpg"):
        davis.load(root)
    with pytest.raises(DataError, match=r"no split file: expected .*ImageSets/2017/trainval\.txt"):
        davis.load(root, "trainval")
    with pytest.raises(DataError, match=r"Full-Resolution: folder does not exist"):
        davis.load(root, resolution="Full-Resolution")
    with pytest.raises(DataError, match=r"no sequence\(s\) \['bear'\] in split 'train'"):
        davis.load(root, sequences=["bear"])
    with pytest.raises(ValueError, match="year must be 2016 or 2017"):
        davis.load(root, year=2018)
    (root / "ImageSets" / "2017" / "val.txt").write_text("bear\nmoose\n")
    with pytest.raises(DataError, match=r"JPEGImages/480p/moose: folder does not exist"):
        davis.load(root, "val")


def _mask_box(mask: torch.Tensor) -> np.ndarray:
    ys, xs = np.nonzero(mask[0].numpy())
    return np.array([xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()], float)


def test_pair_dataset_draws_a_pair(root: Path) -> None:
    index = davis.load(root)
    ds = PairDataset(sources=[index], sampler=PairSampler(frame_range=2), seed=3, masks=True)
    for k in range(6):
        sample = ds[(0, 0, k)]
        assert sample["search"].shape == (3, 239, 239) and int(sample["skipped"]) == 0
        assert torch.isfinite(sample["template_box"]).all()
        # the object's mask, warped with the search crop: its box is the search box
        assert bool(sample["has_mask"]) and sample["search_mask"].shape == (1, 239, 239)
        box = sample["search_box"].numpy()
        np.testing.assert_allclose(_mask_box(sample["search_mask"]), box, atol=0.6)

"""Writing an index in the OTB and GOT-10k layouts, and reading the OTB copy back."""

from __future__ import annotations

import configparser
import re

import numpy as np
import pytest

from siamlightning.data import open_dataset
from siamlightning.data.core.sequences import Sequence, SequenceIndex
from siamlightning.data.sources import otb
from siamlightning.data.sources.synthetic import make_sequence
from siamlightning.data.tools.writers import write_got10k, write_otb
from siamlightning.errors import DataError

N = 12


@pytest.fixture(scope="module")
def index() -> SequenceIndex:
    """Two synthetic sequences; the second with NaN (absent) rows at frames 3, 4 and 0."""
    a, b = make_sequence(0, 0, length=N), make_sequence(0, 1, length=N)
    boxes = b.boxes.copy()
    boxes[[0, 3, 4]] = np.nan
    ratio = b.meta["visible_ratio"].copy()
    ratio[5] = 0.3
    meta = {**b.meta, "visible_ratio": ratio, "object_class": "blob"}
    b2 = Sequence(
        b.name, b.frames, boxes, out_of_view=b.out_of_view, meta=meta, renderer=b.renderer
    )
    return SequenceIndex([a, b2], name="synthetic")


def test_otb_round_trip(index, tmp_path):
    calls = []
    out = write_otb(
        index, tmp_path / "otb", progress=lambda done, total: calls.append((done, total))
    )
    assert out == tmp_path / "otb" and calls[-1] == (2 * N, 2 * N)
    back = otb.load(out)
    assert back.names == index.names
    for src, got in zip(index, back):
        assert len(got) == N and got.frames[0].endswith("img/0001.jpg")
        np.testing.assert_allclose(got.boxes, src.boxes, atol=1e-3)  # NaN rows stay NaN
        np.testing.assert_array_equal(got.absent, src.absent)
        for i in (0, 5, N - 1):
            rendered, decoded = src.read_frame(i).astype(int), got.read_frame(i)
            assert np.abs(rendered - decoded).mean() < 3
            assert np.abs(src.read_frame((i + 6) % N).astype(int) - decoded).mean() > 3
    assert "NaN,NaN,NaN,NaN" in (out / index.names[1] / "groundtruth_rect.txt").read_text()


def test_otb_writing_resumes_and_copies_jpeg_sources(index, tmp_path):
    out = write_otb(index, tmp_path / "a")
    frames = sorted((out / index.names[0] / "img").iterdir())
    stamps = [p.stat().st_mtime_ns for p in frames]
    frames[2].write_bytes(frames[2].read_bytes()[:100])  # an interrupted write
    write_otb(index, out)
    assert [p.stat().st_mtime_ns for p in frames][3:] == stamps[3:]
    assert otb.load(out)[index.names[0]].read_frame(2).shape == (240, 320, 3)
    copy = write_otb(otb.load(out), tmp_path / "b")  # file-backed JPEGs are copied as-is
    for p in frames:
        assert (copy / index.names[0] / "img" / p.name).read_bytes() == p.read_bytes()
    assert not list(out.rglob("*.part"))


def test_got10k_layout(index, tmp_path):
    out = write_got10k(index, tmp_path / "got", split="train")
    base = out / "train"
    assert (base / "list.txt").read_text().split() == index.names
    box = re.compile(r"^-?\d+\.\d{4},-?\d+\.\d{4},\d+\.\d{4},\d+\.\d{4}$")
    for seq in index:
        d = base / seq.name
        assert sorted(p.name for p in d.glob("*.jpg")) == [f"{i:08d}.jpg" for i in range(1, N + 1)]
        files = ("groundtruth.txt", "absence.label", "cover.label", "cut_by_image.label")
        gt, absence, cover, cut = (d.joinpath(f).read_text().splitlines() for f in files)
        assert len(gt) == len(absence) == len(cover) == len(cut) == N
        assert all(box.match(line) for line in gt)
        assert absence == [str(int(a)) for a in seq.absent]
        assert cut == [str(int(c)) for c in seq.out_of_view]
        levels = np.array(cover, int)
        assert ((levels == 0) == seq.absent).all() and levels.max() <= 8
        ini = configparser.ConfigParser()
        ini.read(d / "meta_info.ini")
        info = ini["METAINFO"]
        assert info["resolution"] == "(320, 240)" and info["anno_fps"] == "10Hz"
        assert info["end_frame"] == str(N - 1) and "object_class" in info
    d = base / index.names[1]
    gt = np.loadtxt(d / "groundtruth.txt", delimiter=",")
    b = index[1].boxes
    np.testing.assert_allclose(gt[[3, 4]], b[[2, 2]], atol=1e-4)  # the last annotated box
    np.testing.assert_allclose(gt[0], b[1], atol=1e-4)  # leading absence: the next one
    assert d.joinpath("cover.label").read_text().split()[5] == "2"  # round(8 * 0.3)
    assert "object_class: blob" in d.joinpath("meta_info.ini").read_text()


def test_bad_sequence_name_is_refused(tmp_path):
    s = make_sequence(0, 0, length=2)
    bad = Sequence("../escape", s.frames, s.boxes, renderer=s.renderer)
    with pytest.raises(DataError, match="folder name"):
        write_otb(SequenceIndex([bad]), tmp_path)


def test_vot_and_lasot_layouts_read_back(tmp_path):
    from siamlightning.data.tools.writers import write_lasot, write_vot

    src = open_dataset("synthetic", None, seed=3, num_sequences=2, length=15)
    src[0].meta["tags"] = {"occlusion": np.arange(15) % 4 == 0}
    vot = open_dataset("vot", write_vot(src, tmp_path / "vot"))
    lasot = open_dataset("lasot", write_lasot(src, tmp_path / "lasot"))
    assert vot.names == src.names and sorted(lasot.names) == sorted(src.names)
    for seq in src:
        np.testing.assert_allclose(vot[seq.name].polygons, seq.polygons, atol=1e-4)
        back = lasot[seq.name]
        np.testing.assert_array_equal(back.absent, ~seq.visible)
        ok = seq.visible
        np.testing.assert_allclose(back.boxes[ok], seq.boxes[ok], atol=1e-4)
    assert (~src[1].visible).any(), "fixture should have absent frames"
    np.testing.assert_array_equal(vot[src[0].name].occluded, np.arange(15) % 4 == 0)

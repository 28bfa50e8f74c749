import cv2
import numpy as np
import pytest
from helpers import make_checkpoint, run_cli

from siamlightning.data import open_dataset
from siamlightning.data.tools.writers import write_otb


def _frames(tmp_path):
    index = open_dataset("synthetic", None, seed=11, num_sequences=1, length=8)
    root = write_otb(index, tmp_path / "otb")
    seq = index[0]
    return root / seq.name / "img", seq


def test_track_frame_folder_writes_boxes_and_video(tmp_path):
    ckpt = make_checkpoint(tmp_path / "m.ckpt")
    folder, seq = _frames(tmp_path)
    x, y, w, h = seq.boxes[0]
    out = run_cli(
        "track",
        f"ckpt={ckpt}",
        f"input={folder}",
        f"box=[{x},{y},{w},{h}]",
        f"output_dir={tmp_path}/out",
        "name=demo",
        f"hydra.run.dir={tmp_path}/h",
        cwd=tmp_path,
    )
    boxes = np.loadtxt(tmp_path / "out" / "demo.txt", delimiter=",")
    assert boxes.shape == (8, 4)
    np.testing.assert_allclose(boxes[0], seq.boxes[0], atol=1e-3)
    cap = cv2.VideoCapture(str(tmp_path / "out" / "demo.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 8
    assert "tracked 8 frames" in out.stdout


def test_track_video_file(tmp_path):
    ckpt = make_checkpoint(tmp_path / "m.ckpt")
    folder, seq = _frames(tmp_path)
    video = tmp_path / "in.mp4"
    first = cv2.imread(str(sorted(folder.iterdir())[0]))
    vw = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, first.shape[1::-1])
    for f in sorted(folder.iterdir()):
        vw.write(cv2.imread(str(f)))
    vw.release()
    x, y, w, h = seq.boxes[0]
    run_cli(
        "track",
        f"ckpt={ckpt}",
        f"input={video}",
        f"box=[{x},{y},{w},{h}]",
        f"output_dir={tmp_path}/out",
        "write_video=false",
        f"hydra.run.dir={tmp_path}/h",
        cwd=tmp_path,
    )
    assert np.loadtxt(tmp_path / "out" / "in.txt", delimiter=",").shape == (8, 4)


# slow (2 x 6 s): the box check and the missing input are tested in-process
# (tests/tracking/test_siamfc_tracker.py, test_open_frames_of_a_missing_input_names_it); the
# corrupt frame below runs in CI
@pytest.mark.slow
def test_track_bad_box_and_missing_input_give_clear_errors(tmp_path):
    ckpt = make_checkpoint(tmp_path / "m.ckpt")
    folder, _ = _frames(tmp_path)
    common = [f"ckpt={ckpt}", f"hydra.run.dir={tmp_path}/h", f"output_dir={tmp_path}/out"]
    bad_box = run_cli(
        "track", *common, f"input={folder}", "box=[10,10,0,20]", cwd=tmp_path, check=False
    )
    assert bad_box.returncode != 0 and "w > 0 and h > 0" in bad_box.stderr
    missing = run_cli(
        "track", *common, f"input={tmp_path}/nope", "box=[1,1,5,5]", cwd=tmp_path, check=False
    )
    assert missing.returncode != 0 and "nope does not exist" in missing.stderr


def test_track_corrupt_frame_names_the_file(tmp_path):
    ckpt = make_checkpoint(tmp_path / "m.ckpt")
    folder, _ = _frames(tmp_path)
    common = [f"ckpt={ckpt}", f"hydra.run.dir={tmp_path}/h", f"output_dir={tmp_path}/out"]
    # a corrupt frame names the file
    victim = sorted(folder.iterdir())[3]
    victim.write_bytes(b"not a jpeg")
    corrupt = run_cli(
        "track", *common, f"input={folder}", "box=[10,10,20,20]", cwd=tmp_path, check=False
    )
    assert corrupt.returncode != 0 and victim.name in corrupt.stderr


def test_track_siammask_weights_write_masks_and_polygons(tmp_path):
    """A SiamMask tracker (pysot siammask_r50_l3 layout, random weights) writes a 0/255 mask PNG
    per frame and a polygon file, and tints the video; a SiamFC checkpoint refuses
    write_masks=true with a message."""
    import torch

    from siamlightning.models.pysot_weights import build_pysot_net

    torch.manual_seed(0)
    weights = tmp_path / "siammask.pth"
    torch.save(build_pysot_net("siammask_r50_l3").state_dict(), weights)
    index = open_dataset("synthetic", None, seed=11, num_sequences=1, length=4)
    root = write_otb(index, tmp_path / "otb")
    seq = index[0]
    x, y, w, h = seq.boxes[0]
    out = run_cli(
        "track",
        "ckpt=siammask_r50_l3",
        f"weights={weights}",
        f"input={root / seq.name / 'img'}",
        f"box=[{x},{y},{w},{h}]",
        f"output_dir={tmp_path}/out",
        "name=sm",
        f"hydra.run.dir={tmp_path}/h",
        cwd=tmp_path,
    )
    masks = sorted((tmp_path / "out" / "sm_masks").iterdir())
    assert [m.name for m in masks] == [f"{k:05d}.png" for k in range(4)]
    first = cv2.imread(str(masks[0]), cv2.IMREAD_UNCHANGED)
    assert first.ndim == 2
    assert set(np.unique(first)) <= {0, 255}
    # frame 0's mask is the given box filled: its bounds are the box's
    ys, xs = np.nonzero(first)
    np.testing.assert_allclose(
        [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], [x, y, x + w, y + h], atol=1.0
    )
    polygons = np.loadtxt(tmp_path / "out" / "sm_polygons.txt", delimiter=",")
    assert polygons.shape == (4, 8)
    np.testing.assert_allclose(polygons[0], [x, y, x + w, y, x + w, y + h, x, y + h], atol=1e-3)
    assert "masks:" in out.stdout
    cap = cv2.VideoCapture(str(tmp_path / "out" / "sm.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 4

    ckpt = make_checkpoint(tmp_path / "m.ckpt")
    refused = run_cli(
        "track",
        f"ckpt={ckpt}",
        f"input={root / seq.name / 'img'}",
        f"box=[{x},{y},{w},{h}]",
        "write_masks=true",
        f"output_dir={tmp_path}/out2",
        f"hydra.run.dir={tmp_path}/h2",
        cwd=tmp_path,
        check=False,
    )
    assert refused.returncode != 0 and "makes no masks" in refused.stderr


def test_open_frames_of_a_missing_input_names_it(tmp_path):
    from siamlightning.cli.track import open_frames

    with pytest.raises(FileNotFoundError, match="nope does not exist"):
        open_frames(tmp_path / "nope")

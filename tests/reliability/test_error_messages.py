"""Issue 8 item 8: errors that say what is wrong, and the CLIs' one-line error reports."""

import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from helpers import TRACKER, make_checkpoint, run_cli

from siamlightning import errors
from siamlightning.errors import DataError
from siamlightning.models.backbones.siamfc_alexnet import SiamFCAlexNet
from siamlightning.tracking.load import build_tracker, load_net, load_tracker

RPN_TRACKER = {
    "_target_": "siamlightning.tracking.siamrpn.SiamRPNTracker",
    "penalty_k": 0.16,
    "window_influence": 0.4,
    "lr": 0.3,
}
NO_FULL_ERROR = {"HYDRA_FULL_ERROR": None}


def _last_line(text: str) -> str:
    return [line for line in text.splitlines() if line.strip()][-1]


def _user_error(tmp_path: Path, *args: str) -> tuple[str, subprocess.CompletedProcess]:
    """Run a CLI as a user does (no HYDRA_FULL_ERROR) in ``tmp_path/h``; it must exit 1.
    Returns (the last line of stderr, the process)."""
    out = run_cli(
        *args, f"hydra.run.dir={tmp_path}/h", cwd=tmp_path, check=False, env=NO_FULL_ERROR
    )
    assert out.returncode == 1, out.stderr[-2000:]
    return _last_line(out.stderr), out


# -- checkpoints ---------------------------------------------------------------------------


def _bad_checkpoints(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    good = make_checkpoint(tmp_path / "good.ckpt").read_bytes()
    (tmp_path / "trunc.ckpt").write_bytes(good[: len(good) // 2])
    (tmp_path / "notes.txt").write_text("hello\n")
    torch.save({"backbone.features.0.weight": torch.zeros(3)}, tmp_path / "model.pth")
    with zipfile.ZipFile(tmp_path / "random.zip", "w") as z:
        z.writestr("a.txt", "x")
    (tmp_path / "run").mkdir()
    (tmp_path / "empty.ckpt").write_bytes(b"")
    return {
        "directory": (tmp_path / "run", "run: is a directory, not a checkpoint file"),
        "truncated": (tmp_path / "trunc.ckpt", "trunc.ckpt: is truncated or corrupt"),
        "text": (tmp_path / "notes.txt", "notes.txt: is not a torch checkpoint"),
        "zip": (tmp_path / "random.zip", "random.zip: is a zip archive but not a torch checkpoint"),
        "empty": (tmp_path / "empty.ckpt", "empty.ckpt: is not a checkpoint: the file is empty"),
        "pysot": (
            tmp_path / "model.pth",
            "model.pth: is not a siamlightning checkpoint: no 'siamlightning' export config "
            "(it holds a bare state_dict of 1 tensors",
        ),
    }


@pytest.mark.parametrize("case", ["directory", "truncated", "text", "zip", "empty", "pysot"])
def test_bad_checkpoint_names_path_and_what_it_is(tmp_path, case):
    path, fragment = _bad_checkpoints(tmp_path)[case]
    for load in (load_net, load_tracker):
        with pytest.raises((DataError, FileNotFoundError)) as info:
            load(path)
        assert fragment in str(info.value)
    if case == "pysot":
        assert "use load_tracker('<config>', weights=" in str(info.value)


def test_truncated_checkpoint_says_what_torch_said(tmp_path):
    """A zip whose end record survives but whose data does not: torch's reason is kept."""
    good = make_checkpoint(tmp_path / "good.ckpt")
    with zipfile.ZipFile(good) as z:
        names = z.namelist()
        parts = {n: z.read(n) for n in names}
    with zipfile.ZipFile(tmp_path / "cut.ckpt", "w") as z:
        for n in names:
            data = parts[n][: len(parts[n]) // 2] if n.endswith("data.pkl") else parts[n]
            z.writestr(n, data)
    with pytest.raises(DataError, match=r"cut.ckpt: is truncated or corrupt \(torch.load failed"):
        load_net(tmp_path / "cut.ckpt")


def test_tracker_config_of_another_family_fails_at_build(tmp_path):
    net, _ = load_net(make_checkpoint(tmp_path / "m.ckpt"))
    with pytest.raises(getattr(errors, "ConfigError", errors.SiamLightningError)) as info:
        build_tracker(net, RPN_TRACKER)
    msg = str(info.value)
    assert "SiamRPNTracker cannot track with a SiamFCNet" in msg
    assert "outputs 'response' maps, the tracker reads 'rpn'" in msg
    assert isinstance(info.value, ValueError)
    build_tracker(net, TRACKER)  # its own family still builds


# -- tracker inputs ------------------------------------------------------------------------


def _tracker(tmp_path):
    net, export = load_net(make_checkpoint(tmp_path / "m.ckpt"))
    return build_tracker(net, export["tracker"])


IMAGE = np.zeros((40, 50, 3), np.uint8)


@pytest.mark.parametrize(
    ("image", "box", "fragment"),
    [
        (None, [1, 1, 5, 5], "image is None"),
        (np.zeros((0, 0, 3), np.uint8), [1, 1, 5, 5], "image is empty: 0x0"),
        (np.zeros((0, 50, 3), np.uint8), [1, 1, 5, 5], "image is empty: 50x0"),
        (np.zeros((40, 0, 3), np.uint8), [1, 1, 5, 5], "image is empty: 0x40"),
        (IMAGE, [0, 0, 5001, 10], "init box [0.0, 0.0, 5001.0, 10.0] is more than 100x the 50x40"),
        (IMAGE, [0, 0, 10, 4001], "is more than 100x the 50x40 image"),
    ],
)
def test_init_rejects_empty_images_and_absurd_boxes(tmp_path, image, box, fragment):
    with pytest.raises(DataError) as info:
        _tracker(tmp_path).init(image, box)
    assert fragment in str(info.value)


def test_init_box_limit_is_100x_the_image(tmp_path):
    tracker = _tracker(tmp_path)
    tracker.init(IMAGE, [0, 0, 5000, 4000])  # 100x: accepted
    with pytest.raises(DataError, match=r"more than 100x the 50x40 image"):
        tracker.init(IMAGE, [0, 0, 5000.5, 4000])


@pytest.mark.parametrize(
    ("image", "fragment"),
    [
        (None, "image is None"),
        (np.zeros((0, 50, 3), np.uint8), "image is empty: 50x0"),
        (IMAGE.astype(np.float32), "image must be RGB uint8 (H, W, 3), got float32 (40, 50, 3)"),
        (IMAGE[..., 0], "image must be RGB uint8 (H, W, 3), got uint8 (40, 50)"),
    ],
)
@pytest.mark.parametrize("kind", ["siamfc", "siamrpn", "siamrpn_lt", "static"])
def test_track_checks_its_image(tmp_path, image, fragment, kind):
    from siamlightning.models.heads.rpn import DepthwiseRPN
    from siamlightning.models.siamrpn import SiamRPNNet
    from siamlightning.tracking.base import StaticTracker
    from siamlightning.tracking.siamrpn_lt import SiamRPNLTTracker

    if kind == "siamfc":
        tracker = _tracker(tmp_path)
    elif kind == "static":
        tracker = StaticTracker()
    else:
        torch.manual_seed(0)
        net = SiamRPNNet(backbone=SiamFCAlexNet(width=0.25), head=DepthwiseRPN(in_channels=64))
        cfg = dict(RPN_TRACKER)
        if kind == "siamrpn_lt":
            cfg["_target_"] = f"{SiamRPNLTTracker.__module__}.SiamRPNLTTracker"
        tracker = build_tracker(net, cfg)
    tracker.init(np.full((120, 120, 3), 100, np.uint8), [40, 40, 30, 30])
    with pytest.raises(DataError) as info:
        tracker.track(image)
    assert fragment in str(info.value)


# -- the CLI's error report ----------------------------------------------------------------


def test_report_errors_prints_one_line_and_exits_1(monkeypatch, capsys):
    from siamlightning.cli.common import report_errors

    @report_errors
    def task(cfg):
        raise DataError("bad value 7", path="a.txt", line=3)

    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    with pytest.raises(SystemExit) as info:
        task(None)
    assert info.value.code == 1
    assert _last_line(capsys.readouterr().err) == "error: a.txt:3: bad value 7"
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    with pytest.raises(DataError):  # the full trace, for whoever asks for it
        task(None)


def test_a_bug_is_not_a_user_error():
    from siamlightning.cli.common import user_error
    from siamlightning.tracking.siamrpn import SiamRPNTracker

    try:
        _a, _b = [1, 2, 3]  # a ValueError that is a bug
    except ValueError as e:
        assert user_error(e) is None
    with pytest.raises(ValueError) as info:  # one a check of ours raised on purpose
        SiamRPNTracker(net=torch.nn.Identity(), penalty_k=0, window_influence=0, lr=0,
                       crop_convention="nope")  # fmt: skip
    assert user_error(info.value) is info.value
    assert user_error(KeyError("x")) is None


def test_cli_bad_checkpoint_is_one_line(tmp_path):
    """siamlightning-track with a directory as ckpt: the message last, no traceback, exit 1."""
    (tmp_path / "run").mkdir()
    args = ("track", f"ckpt={tmp_path}/run", f"input={tmp_path}", "box=[1,2,3,4]")
    last, out = _user_error(tmp_path, *args)
    assert last == f"error: {tmp_path}/run: is a directory, not a checkpoint file"
    assert "Traceback" not in out.stderr
    full = run_cli(*args, f"hydra.run.dir={tmp_path}/h2", cwd=tmp_path, check=False)
    assert full.returncode == 1 and "Traceback" in full.stderr  # HYDRA_FULL_ERROR=1


def test_cli_eval_tracker_of_another_family_fails_at_load(tmp_path):
    ckpt = make_checkpoint(tmp_path / "m.ckpt")
    last, out = _user_error(
        tmp_path, "eval", f"ckpt={ckpt}", "tracker=siamrpn_alex_dwxcorr", "progress=false"
    )
    assert last.startswith(
        "error: SiamRPNTracker cannot track with a SiamFCNet: the network outputs 'response'"
    )
    assert "not enough values to unpack" not in out.stderr


def test_cli_eval_missing_results_folder(tmp_path):
    last, _ = _user_error(tmp_path, "eval", f"results={tmp_path}/no/such/dir")
    assert last == f"error: {tmp_path}/no/such/dir: results folder does not exist"


def test_cli_train_missing_resume_checkpoint_fails_before_fit(tmp_path):
    args = ("train", f"ckpt_path={tmp_path}/nope.ckpt", "logger=csv", "evaluate.enabled=false")
    last, _ = _user_error(tmp_path, *args, "data.num_workers=0")
    assert last == f"error: checkpoint {tmp_path}/nope.ckpt does not exist"
    assert not list(tmp_path.glob("h/**/metrics.csv"))  # no training step ran


def test_cli_bad_override_keeps_hydras_short_message(tmp_path):
    out = run_cli(
        "eval", "nosuchkey=1", cwd=tmp_path, check=False, env=NO_FULL_ERROR
    )  # fmt: skip
    assert out.returncode == 1
    assert "Could not override 'nosuchkey'" in out.stderr
    assert "Traceback" not in out.stderr


# -- siamlightning-track inputs ------------------------------------------------------------


def test_track_box_as_a_string_and_bad_boxes():
    from siamlightning.cli.track import parse_box

    np.testing.assert_array_equal(parse_box("80,80,40,42"), [80, 80, 40, 42])
    np.testing.assert_array_equal(parse_box("80 80 40 42"), [80, 80, 40, 42])
    with pytest.raises(DataError, match=r"box must be 4 numbers \[x,y,w,h\] in pixels, got \[1"):
        parse_box([1, 2, 3])
    with pytest.raises(DataError, match=r"box must be 4 numbers .* got 'a,b,c,d'"):
        parse_box("a,b,c,d")


def test_track_frame_folder_of_mixed_sizes(tmp_path):
    import cv2

    from siamlightning.cli.track import open_frames

    for k, side in enumerate([32, 32, 16]):
        cv2.imwrite(str(tmp_path / f"{k:04d}.png"), np.zeros((side, side + 8, 3), np.uint8))
    frames, count, _ = open_frames(tmp_path)
    assert count == 3
    with pytest.raises(DataError, match=r"0002.png: frame is 24x16 but 0000.png is 40x32"):
        list(frames)


# -- training settings that would silently train something else ----------------------------


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("samples_per_epoch", 0, "data.samples_per_epoch must be >= 1, got 0"),
        ("batch_size", 0, "data.batch_size must be >= 1, got 0"),
        ("val_samples", -1, "data.val_samples must be >= 0, got -1"),
        ("num_workers", -2, "data.num_workers must be an int >= 0 or 'auto', got -2"),
    ],
)
def test_datamodule_rejects_empty_epochs_and_batches(key, value, fragment):
    from siamlightning.data.pairs.datamodule import TrackingDataModule

    with pytest.raises(ValueError) as info:
        TrackingDataModule(train_sources=[{"name": "synthetic"}], **{key: value})
    assert fragment in str(info.value)
    assert isinstance(info.value, errors.SiamLightningError)


def test_cli_train_batch_size_0_is_one_line(tmp_path):
    """A check inside a Hydra-instantiated class reaches the user as its own message."""
    last, _ = _user_error(tmp_path, "train", "data.batch_size=0", "logger=csv")
    assert last == "error: data.batch_size must be >= 1, got 0"

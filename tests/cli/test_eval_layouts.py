"""siamlightning-eval on OTB-, VOT-, LaSOT- and GOT-10k-layout data, from raw result folders."""

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from helpers import run_cli
from test_track import make_checkpoint

from siamlightning.data import open_dataset
from siamlightning.data.tools.writers import write_got10k
from siamlightning.evaluation.result_files import write_result

N_SEQ, N_FRAMES = 2, 12


@pytest.fixture(scope="module")
def synth():
    return open_dataset("synthetic", None, seed=77, num_sequences=N_SEQ, length=N_FRAMES)


def _frames(seq, folder, pattern):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(len(seq)):
        cv2.imwrite(str(folder / (pattern % (i + 1))), seq.read_frame(i)[..., ::-1])


def write_vot(index, root):
    """The VOT2016-2019 layout: list.txt, color/%08d.jpg, groundtruth.txt (8-value polygons)."""
    root.mkdir(parents=True)
    (root / "list.txt").write_text("\n".join(index.names) + "\n")
    for seq in index:
        _frames(seq, root / seq.name / "color", "%08d.jpg")
        poly = np.where(np.isfinite(seq.polygons), seq.polygons, 0.0)
        np.savetxt(root / seq.name / "groundtruth.txt", poly, fmt="%.2f", delimiter=",")
    return root


def write_lasot(index, root):
    """The LaSOT layout: <class>/<class>-<k>/img/%08d.jpg + groundtruth.txt + flags."""
    for k, seq in enumerate(index, start=1):
        d = root / "synth" / f"synth-{k}"
        _frames(seq, d / "img", "%08d.jpg")
        np.savetxt(d / "groundtruth.txt", np.nan_to_num(seq.boxes), fmt="%.0f", delimiter=",")
        (d / "full_occlusion.txt").write_text(",".join("0" for _ in range(len(seq))))
        (d / "out_of_view.txt").write_text(",".join(str(int(a)) for a in seq.absent))
    return root


def noisy(boxes, rng, scale):
    b = np.nan_to_num(boxes, nan=1.0).copy()
    b[:, :2] += rng.normal(0, scale, (len(b), 2))
    return b


def _synthetic_boxes(run_dir, name):
    """The boxes siamlightning-eval wrote for tracker ``m`` on the synthetic benchmark."""
    return np.loadtxt(run_dir / "results" / "synthetic" / "m" / f"{name}.txt", delimiter=",")


def _table(out):
    return out.stdout[out.stdout.index("name") :]


def test_raw_results_in_every_layout_score_from_the_cli(tmp_path, synth):
    rng = np.random.default_rng(0)
    # GOT-10k val
    got = write_got10k(synth, tmp_path / "got", split="val")
    index = open_dataset("got10k", got, split="val")
    for label, scale in (("good", 1.0), ("bad", 25.0)):
        for seq in index:
            write_result(tmp_path / label, seq.name, noisy(seq.boxes, rng, scale), layout="got10k")
    out = run_cli(
        "eval",
        f"results=[{tmp_path}/good,{tmp_path}/bad]",
        "benchmark=got10k_val",
        f"benchmark.root={got}",
        f"hydra.run.dir={tmp_path}/r1",
        cwd=tmp_path,
    )
    rep = json.loads((tmp_path / "r1" / "metrics.json").read_text())["got10k_val"]
    assert rep["good"]["overall"]["ao"] > rep["bad"]["overall"]["ao"]
    assert "ao" in _table(out) and "sr50" in _table(out)
    # LaSOT (OTB-style <seq>.txt files, as pytracking writes them, tab separated)
    lasot = write_lasot(synth, tmp_path / "lasot")
    lidx = open_dataset("lasot", lasot)
    (tmp_path / "lres").mkdir()
    for seq in lidx:
        np.savetxt(
            tmp_path / "lres" / f"{seq.name}.txt",
            noisy(seq.boxes, rng, 2.0),
            fmt="%.2f",
            delimiter="\t",
        )
    out = run_cli(
        "eval",
        f"results={tmp_path}/lres",
        "benchmark=lasot_style",
        f"benchmark.root={lasot}",
        f"hydra.run.dir={tmp_path}/r2",
        cwd=tmp_path,
    )
    rep = json.loads((tmp_path / "r2" / "metrics.json").read_text())["lasot_style"]["lres"]
    assert 0 < rep["overall"]["success_auc"] <= 20 / 21 and "norm_precision_20" in _table(out)


# slow (17 s): the reset runner and its scoring are tested in tests/evaluation, the CLI's VOT
# folder scoring in tests/reliability/test_vot_codes, a checkpoint run + rescore in
# test_eval_vot2020
@pytest.mark.slow
def test_vot_checkpoint_run_then_rescore_the_written_folder(tmp_path, synth):
    vot = write_vot(synth, tmp_path / "vot")
    ckpt = make_checkpoint(tmp_path / "m.ckpt")
    common = ["benchmark=vot", f"benchmark.root={vot}", "benchmark.repetitions=3"]
    out = run_cli(
        "eval",
        f"ckpt={ckpt}",
        *common,
        "progress=false",
        f"hydra.run.dir={tmp_path}/r1",
        cwd=tmp_path,
    )
    first = json.loads((tmp_path / "r1" / "metrics.json").read_text())["vot"]["m"]["overall"]
    assert {"eao", "accuracy", "robustness", "failures"} <= set(first)
    assert "failures" in _table(out)
    assert (tmp_path / "r1" / "plots" / "vot_eao.png").is_file()
    folder = tmp_path / "r1" / "results" / "vot" / "m"
    assert sorted(p.name for p in (folder / "baseline").iterdir()) == synth.names
    run_cli("eval", f"results={folder}", *common, f"hydra.run.dir={tmp_path}/r2", cwd=tmp_path)
    again = json.loads((tmp_path / "r2" / "metrics.json").read_text())["vot"]["m"]["overall"]
    assert again["failures"] == first["failures"] and again["accuracy"] == first["accuracy"]


# slow (18 s): the gathers' DDP exactness is tested in tests/metrics (gloo, in-process)
@pytest.mark.slow
def test_two_process_evaluation_equals_single_process(tmp_path):
    ckpt = make_checkpoint(tmp_path / "m.ckpt")
    args = [
        f"ckpt={ckpt}",
        "benchmark.options.num_sequences=3",
        "benchmark.options.length=10",
        "progress=false",
    ]
    run_cli("eval", *args, f"hydra.run.dir={tmp_path}/one", cwd=tmp_path)
    env = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--standalone",
        "-m",
        "siamlightning.cli.eval",
        *args,
        f"hydra.run.dir={tmp_path}/two",
    ]
    out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    # each rank tracks its shard's sequences 2 at a time (evaluate.batch_sequences composes)
    cmd[-1] = f"hydra.run.dir={tmp_path}/batched"
    cmd.append("evaluate.batch_sequences=2")
    out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    one = json.loads((tmp_path / "one" / "metrics.json").read_text())["synthetic"]["m"]
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())["synthetic"]["m"]
    for key in ("success_auc", "precision_20", "success_curve", "num_sequences"):
        assert one["overall"][key] == two["overall"][key], key
    assert one["sequences"].keys() == two["sequences"].keys()
    batched = json.loads((tmp_path / "batched" / "metrics.json").read_text())["synthetic"]["m"]
    assert batched["overall"]["success_auc"] == pytest.approx(one["overall"]["success_auc"], 1e-3)
    for name in one["sequences"]:
        a, b = (_synthetic_boxes(tmp_path / run, name) for run in ("one", "batched"))
        np.testing.assert_allclose(a, b, atol=1e-3)


def test_got10k_checkpoint_run_repeats_and_logs_to_csv(tmp_path, synth):
    got = write_got10k(synth, tmp_path / "got", split="val")
    ckpt = make_checkpoint(tmp_path / "m.ckpt")
    run_cli(
        "eval",
        f"ckpt={ckpt}",
        "benchmark=got10k_val",
        f"benchmark.root={got}",
        "logger=csv",
        "progress=false",
        "evaluate.batch_sequences=2",  # the two sequences in lockstep, their 3 runs each
        f"hydra.run.dir={tmp_path}/r",
        cwd=tmp_path,
    )
    res = tmp_path / "r" / "results" / "got10k_val" / "m"
    name = synth.names[0]
    # a deterministic tracker: run 2 equals run 1, so only _001 is kept (as the toolkit does)
    assert sorted(p.name for p in (res / name).iterdir()) == [f"{name}_001.txt", f"{name}_time.txt"]
    rep = json.loads((tmp_path / "r" / "metrics.json").read_text())["got10k_val"]["m"]
    assert rep["overall"]["num_runs"] == N_SEQ
    header = (tmp_path / "r" / "csv" / "metrics.csv").read_text().splitlines()[0]
    assert "eval/got10k_val/m/ao" in header.split(",")


@pytest.mark.slow
def test_eval_cli_takes_an_export_directory(tmp_path):
    pytest.importorskip("onnxruntime")
    ckpt = make_checkpoint(tmp_path / "m.ckpt")
    run_cli("export", f"ckpt={ckpt}", f"out={tmp_path}/m", cwd=tmp_path)
    common = ["benchmark.options.num_sequences=3", "benchmark.options.length=8", "progress=false"]
    run_cli("eval", f"ckpt={ckpt}", *common, f"hydra.run.dir={tmp_path}/torch", cwd=tmp_path)
    run_cli(
        "eval",
        f"ckpt={tmp_path}/m",
        "evaluate.batch_sequences=3",
        *common,
        f"hydra.run.dir={tmp_path}/onnx",
        cwd=tmp_path,
    )
    a = json.loads((tmp_path / "torch" / "metrics.json").read_text())["synthetic"]["m"]
    b = json.loads((tmp_path / "onnx" / "metrics.json").read_text())["synthetic"]["m"]
    assert b["overall"]["success_auc"] == pytest.approx(a["overall"]["success_auc"], abs=1e-3)
    for seq in a["sequences"]:
        ta, tb = (_synthetic_boxes(tmp_path / run, seq) for run in ("torch", "onnx"))
        np.testing.assert_allclose(tb, ta, atol=1e-2)

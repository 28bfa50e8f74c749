import json

import numpy as np
from helpers import run_cli
from test_track import make_checkpoint

from siamlightning.data import open_dataset


def test_prep_writes_layouts_and_check_reports(tmp_path):
    opts = ["options.num_sequences=2", "options.length=6", f"hydra.run.dir={tmp_path}/h"]
    run_cli(
        "prep",
        "write",
        "dataset=synthetic",
        "layout=otb",
        f"out={tmp_path}/otb",
        *opts,
        cwd=tmp_path,
    )
    run_cli(
        "prep",
        "write",
        "dataset=synthetic",
        "layout=got10k",
        f"out={tmp_path}/got",
        *opts,
        cwd=tmp_path,
    )
    disk = open_dataset("otb", tmp_path / "otb")
    mem = open_dataset("synthetic", None, seed=0, num_sequences=2, length=6)
    assert disk.names == mem.names
    np.testing.assert_allclose(disk[0].boxes, mem[0].boxes, atol=1e-3)
    assert (tmp_path / "got" / "train" / "list.txt").read_text().split() == mem.names
    # corrupt one frame: check names it
    bad = sorted((tmp_path / "otb" / mem.names[1] / "img").iterdir())[2]
    bad.write_bytes(b"garbage")
    out = run_cli(
        "prep", "check", "dataset=otb", f"root={tmp_path}/otb", *opts[2:], cwd=tmp_path, check=False
    )
    assert out.returncode == 1, out.stderr[-2000:]
    assert bad.name in out.stdout


def test_eval_scores_raw_result_folders_and_checkpoints(tmp_path):
    index = open_dataset("synthetic", None, seed=900000, num_sequences=2, length=8)
    perfect, shifted = tmp_path / "perfect", tmp_path / "shifted"
    for folder, dx in ((perfect, 0.0), (shifted, 1000.0)):
        folder.mkdir()
        for seq in index:
            b = seq.boxes.copy()
            b[:, 0] += dx
            np.savetxt(folder / f"{seq.name}.txt", b, delimiter=",", fmt="%.4f")
    bench = ["benchmark.options.num_sequences=2", "benchmark.options.length=8"]
    out = run_cli(
        "eval",
        f"results=[{perfect},{shifted}]",
        *bench,
        f"hydra.run.dir={tmp_path}/run",
        cwd=tmp_path,
    )
    report = json.loads((tmp_path / "run" / "metrics.json").read_text())["synthetic"]
    valid = [s.visible.mean() for s in index]
    assert report["perfect"]["overall"]["success_auc"] > report["shifted"]["overall"]["success_auc"]
    assert report["perfect"]["overall"]["success_auc"] <= 20 / 21 + 1e-9
    assert min(valid) > 0 and "synthetic/perfect" in out.stdout
    ckpt = make_checkpoint(tmp_path / "m.ckpt")
    run_cli(
        "eval",
        f"ckpt={ckpt}",
        *bench,
        "progress=false",
        f"hydra.run.dir={tmp_path}/run2",
        cwd=tmp_path,
    )
    report = json.loads((tmp_path / "run2" / "metrics.json").read_text())["synthetic"]
    assert report["m"]["overall"]["num_sequences"] == 2


def test_eval_wrong_line_count_names_the_file(tmp_path):
    index = open_dataset("synthetic", None, seed=900000, num_sequences=1, length=8)
    folder = tmp_path / "res"
    folder.mkdir()
    np.savetxt(folder / f"{index[0].name}.txt", index[0].boxes[:5], delimiter=",")
    out = run_cli(
        "eval",
        f"results={folder}",
        "benchmark.options.num_sequences=1",
        "benchmark.options.length=8",
        f"hydra.run.dir={tmp_path}/run",
        cwd=tmp_path,
        check=False,
    )
    assert out.returncode != 0 and f"{index[0].name}.txt" in out.stderr

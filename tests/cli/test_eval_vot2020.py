"""siamlightning-eval on a VOT2020-layout folder (mask ground truth, anchor.value): run, rescore."""

import json

import numpy as np
from helpers import run_cli
from test_track import make_checkpoint

from siamlightning.data import open_dataset
from siamlightning.data.tools.writers import write_vot
from siamlightning.metrics.regions import Mask, format_region


def write_vot2020(root):
    """Synthetic sequences in the VOT2020 layout: mask groundtruth.txt and anchor.value."""
    synth = open_dataset("synthetic", None, seed=21, num_sequences=2, length=20)
    write_vot(synth, root)
    for seq in synth:
        lines = [format_region(Mask.from_image(seq.read_mask(i))) for i in range(len(seq))]
        (root / seq.name / "groundtruth.txt").write_text("\n".join(lines) + "\n")
        anchors = np.zeros(len(seq), int)
        anchors[[0, 8]], anchors[-1] = 1, -1
        np.savetxt(root / seq.name / "anchor.value", anchors, fmt="%d")
    return root, synth.names


def test_vot2020_checkpoint_run_then_rescore_the_written_folder(tmp_path):
    root, names = write_vot2020(tmp_path / "vot2020")
    ckpt = make_checkpoint(tmp_path / "m.ckpt")
    common = ["benchmark=vot2020", f"benchmark.root={root}"]
    out = run_cli(
        "eval",
        f"ckpt={ckpt}",
        *common,
        "progress=false",
        f"hydra.run.dir={tmp_path}/r1",
        cwd=tmp_path,
    )
    first = json.loads((tmp_path / "r1" / "metrics.json").read_text())["vot2020"]["m"]
    assert first["protocol"] == "vot2020-anchor"
    overall = first["overall"]
    assert 0 < overall["accuracy"] < 1 and 0 < overall["robustness"] <= 1
    assert len(overall["eao_curve"]) == 755 and overall["num_sequences"] == 2
    table = out.stdout[out.stdout.index("name") :]
    assert "eao" in table and "robustness" in table
    for png in ("vot2020_eao.png", "vot2020_ar.png"):
        assert (tmp_path / "r1" / "plots" / png).is_file()
    folder = tmp_path / "r1" / "results" / "vot2020" / "m"
    assert sorted(p.name for p in (folder / "baseline").iterdir()) == sorted(names)
    runs = sorted(p.name for p in (folder / "baseline" / names[0]).glob("*.txt"))
    assert runs == [f"{names[0]}_{a:08d}.txt" for a in (0, 8, 19)]
    run_cli("eval", f"results={folder}", *common, f"hydra.run.dir={tmp_path}/r2", cwd=tmp_path)
    again = json.loads((tmp_path / "r2" / "metrics.json").read_text())["vot2020"]["m"]
    assert again["overall"] == overall and again["sequences"] == first["sequences"]

"""experiment=siammask_synthetic: the base stage (pretrain) then the refine stage, one command."""

import json

import torch
from helpers import run_cli

SMALL = [
    "data.num_workers=0",
    "data.batch_size=4",
    "data.samples_per_epoch=8",
    "data.val_samples=4",
    "trainer.max_epochs=1",
    "trainer.enable_progress_bar=false",
]


def test_siammask_synthetic_pretrains_then_refines_from_its_checkpoint_and_scores_vos(tmp_path):
    run = tmp_path / "run"
    out = run_cli(
        "train",
        "experiment=siammask_synthetic",
        "logger=csv",
        *SMALL,  # the command line's overrides apply to both stages
        "pretrain.overrides=['data.samples_per_epoch=4']",  # the first stage's own
        "evaluate.progress=false",
        "evaluate.benchmarks.synthetic.options.num_sequences=1",
        "evaluate.benchmarks.synthetic.options.length=4",
        "~evaluate.benchmarks.real",
        f"hydra.run.dir={run}",
        cwd=tmp_path,
        timeout=600,
    )
    base = torch.load(run / "pretrain/checkpoints/last.ckpt", map_location="cpu")
    sharp = torch.load(run / "checkpoints/last.ckpt", map_location="cpu")
    assert not (run / "pretrain" / "metrics.json").exists()  # the first stage is not scored
    # logger=csv reached both stages; 4 and 8 pairs of 4: 1 and 2 steps
    assert base["global_step"] == 1 and sharp["global_step"] == 2
    assert (run / "pretrain" / "csv" / "metrics.csv").is_file()
    b, s = base["state_dict"], sharp["state_dict"]
    # the refine stage starts from the base stage: its frozen parts are the base's, the refine
    # head is new, MaskCorr trained on
    assert not any(k.startswith("net.refine_head.") for k in b)
    assert any(k.startswith("net.refine_head.") for k in s)
    frozen = ("net.backbone.conv1.weight", "net.neck.downsample.downsample.0.weight")
    for key in (
        *frozen,
        "net.rpn_head.cls.head.0.weight",
        "net.backbone.layer3.0.bn1.running_mean",
    ):
        assert torch.equal(b[key], s[key]), key
    assert not torch.equal(
        b["net.mask_head.conv_search.0.weight"], s["net.mask_head.conv_search.0.weight"]
    )
    report = json.loads((run / "metrics.json").read_text())["synthetic_vos"]
    assert set(report) == {"trained", "untrained", "box"}
    assert all(0.0 <= r["overall"]["jf_mean"] <= 1.0 for r in report.values())
    assert "synthetic_vos/box" in out.stdout and "jf_mean" in out.stdout

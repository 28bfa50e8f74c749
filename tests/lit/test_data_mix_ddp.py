"""Two gloo processes train from a weighted mix of three datasets: proportions, disjoint ranks."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import lightning as L
import numpy as np
import torch

from siamlightning.data import open_dataset
from siamlightning.data.pairs.datamodule import TrackingDataModule
from siamlightning.data.pairs.sampling import PairSampler
from siamlightning.data.tools.writers import write_got10k
from siamlightning.lit.siamfc import SiamFCModule
from siamlightning.models.backbones.siamfc_alexnet import SiamFCAlexNet
from siamlightning.models.siamfc import SiamFCNet

WEIGHTS = (0.5, 0.3, 0.2)
SPEC_DRAWS = 3000  # per rank: the sampler's draws for that many keys of the rank's stream


class _Record(L.Callback):
    """Each rank writes the pairs it trained on and its first SPEC_DRAWS pair specs."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.pairs: list[tuple] = []
        self.skipped = 0
        self.records: list[str] = []

    def on_train_start(self, trainer, pl_module) -> None:
        handler = logging.Handler()
        handler.emit = lambda record: self.records.append(record.getMessage())  # type: ignore
        logging.getLogger("siamlightning.lit.common").addHandler(handler)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.skipped += int(batch["skipped"].sum())
        for src, box in zip(batch["source"].tolist(), batch["search_box"].tolist(), strict=True):
            self.pairs.append((src, *np.round(box, 4).tolist()))

    def on_train_end(self, trainer, pl_module) -> None:
        rank, ds = trainer.global_rank, trainer.datamodule.train_set
        loader = trainer.train_dataloader
        keys = list(loader.sampler)
        specs = [ds.spec((0, rank, i)) for i in range(SPEC_DRAWS)]
        torch.save(
            {
                "pairs": self.pairs,
                "keys": keys,
                "sources": [s.z[0] for s in specs],
                "step": trainer.global_step,
                "skipped": self.skipped,
                "log": self.records,
            },
            f"{self.folder}/rank{rank}.pt",
        )


def _fixture(tmp: Path, seed: int) -> str:
    index = open_dataset(
        "synthetic", None, seed=seed, num_sequences=3, length=12, width=128, height=96
    )
    root = write_got10k(index, tmp / f"ds{seed}", split="train")
    if seed == 1:  # some unreadable frames: skipped and counted over both ranks
        for jpg in sorted((root / "train").rglob("*.jpg"))[::4]:
            jpg.write_bytes(b"not a jpeg")
    return str(root)


def test_two_ranks_train_from_a_weighted_mix_with_disjoint_streams(tmp_path: Path) -> None:
    roots = [_fixture(tmp_path, s) for s in (1, 2, 3)]
    dm = TrackingDataModule(
        train_sources=[
            {"name": "got10k", "root": r, "split": "train", "weight": w}
            for r, w in zip(roots, WEIGHTS, strict=True)
        ],
        sampler=PairSampler(frame_range=5, neg_prob=0.1),
        samples_per_epoch=48,
        batch_size=8,
        num_workers=0,
        color="pca",
    )
    torch.manual_seed(0)
    module = SiamFCModule(
        net=SiamFCNet(backbone=SiamFCAlexNet(width=0.125)),
        optimizer=functools.partial(torch.optim.SGD, lr=1e-3),
    )
    trainer = L.Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp_spawn",
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
        callbacks=[_Record(str(tmp_path))],
    )
    trainer.fit(module, datamodule=dm)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1))
    assert r0["step"] == r1["step"] == 48 // 2 // 8  # each rank trains on its half
    assert len(r0["pairs"]) == len(r1["pairs"]) == 24
    # the ranks' key streams and the pairs they trained on are disjoint
    assert {tuple(k) for k in r0["keys"]}.isdisjoint(tuple(k) for k in r1["keys"])
    assert set(r0["pairs"]).isdisjoint(r1["pairs"])
    # the epoch summary on rank 0 counts the unreadable frames of both ranks
    assert r0["skipped"] > 0 and r1["skipped"] > 0 and not r1["log"]
    total = r0["skipped"] + r1["skipped"]
    assert any(f"epoch 0: {total} unusable training frames were skipped" in m for m in r0["log"])
    # the mix: source proportions of both ranks' draws within 3 sigma of the weights
    sources = np.array(r0["sources"] + r1["sources"])
    n = len(sources)
    share = np.bincount(sources, minlength=3) / n
    p = np.array(WEIGHTS)
    assert (np.abs(share - p) <= 3 * np.sqrt(p * (1 - p) / n)).all(), share
    # ... and each rank's own stream follows the mix too (not one source per rank)
    for r in (r0, r1):
        own = np.bincount(r["sources"], minlength=3) / SPEC_DRAWS
        assert (np.abs(own - p) <= 4 * np.sqrt(p * (1 - p) / SPEC_DRAWS)).all(), own

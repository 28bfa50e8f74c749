"""Two gloo processes train the refine stage, one rank with mask pairs and the other with none
(N = 0: its loss is the refine's empty rows times 0, still connected to every Refine and MaskCorr
parameter, so DDP's all-reduce does not wait for a missing gradient); the replicas stay
identical, the momenta are cleared at every epoch start and the fixed parts never move."""

from __future__ import annotations

import pytest
import torch
from test_siammask_ddp import fit_mask_less_rank
from test_siammask_refine import FIXED, _batch, _module

EPOCHS = 2


def _pair(has_mask: bool, seed: int) -> dict[str, torch.Tensor]:
    batch = _batch(has_mask=(has_mask,), seed=seed)
    return {k: v[0] for k, v in batch.items()}


@pytest.mark.timeout(120)  # a mask loss outside the graph on rank 1 hangs DDP's all-reduce
def test_ddp_refine_stage_with_a_mask_less_rank_keeps_identical_replicas(tmp_path):
    init = _module().net.state_dict()
    r0, _ = fit_mask_less_rank(_module(epochs=EPOCHS), _pair, EPOCHS, tmp_path)
    last = r0["weights"][EPOCHS - 1]
    fixed = [k for k in last if k.startswith(FIXED)]
    assert fixed and all(torch.equal(init[k], last[k]) for k in fixed)  # BN statistics too
    moved = {k.split(".")[0] for k in last if not torch.equal(init[k], last[k])}
    assert moved == {"mask_head", "refine_head"}

import pytest
import torch

from siamlightning.lit.schedules import geometric


def test_geometric_goes_from_lr_to_lr_end_in_total_steps():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-2)
    sched = geometric(opt, lr_end=1e-5, total=50)
    lrs = []
    for _ in range(60):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(1e-2)
    assert lrs[49] == pytest.approx(1e-5)
    assert lrs[59] == pytest.approx(1e-5)  # held after the end
    ratios = [lrs[k + 1] / lrs[k] for k in range(49)]
    assert max(ratios) == pytest.approx(min(ratios))


def test_geometric_rejects_non_positive():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-2)
    with pytest.raises(ValueError):
        geometric(opt, lr_end=0.0, total=5)

"""Per-item probes in the physics: batches that mix scans taken with different probes."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ptycho_engine.model.pinn import PtychoPINN


@pytest.fixture
def model() -> PtychoPINN:
    torch.manual_seed(0)
    yy, xx = np.mgrid[:64, :64] - 32
    probe = (np.hypot(yy, xx) < 12).astype(np.complex64)
    return PtychoPINN(probe, N=64, gridsize=2, n_filters_scale=1).eval()


def _batch(B: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.rand(B, 4, 64, 64, generator=g)
    rel = torch.tensor([[-3.0, -3.0], [3.0, -3.0], [-3.0, 3.0], [3.0, 3.0]]).expand(B, 4, 2).clone()
    return x, rel


def test_per_item_probe_equal_to_the_models_changes_nothing(model):
    x, rel = _batch()
    with torch.no_grad():
        same = model(x, rel, model.probe.expand(3, -1, -1))
        torch.testing.assert_close(same, model(x, rel), rtol=0, atol=0)


def test_each_item_uses_its_own_probe(model):
    x, rel = _batch()
    other = model.probe * torch.exp(1j * torch.linspace(0, 1, 64)).to(torch.complex64)  # a phase ramp
    probes = torch.stack([model.probe, other, 2 * model.probe])
    with torch.no_grad():
        mixed = model(x, rel, probes)
        plain = model(x, rel)
        torch.testing.assert_close(mixed[0], plain[0])
        torch.testing.assert_close(mixed[2], 2 * plain[2])  # amplitude is linear in the probe
        assert not torch.allclose(mixed[1], plain[1])


def test_calibration_against_another_probe_and_shape_check(model):
    x, rel = _batch()
    g_own = model.calibrate_gain(x, rel)
    g_double = model.calibrate_gain(x, rel, 2 * model.probe.expand(3, -1, -1))
    assert g_double == pytest.approx(g_own - np.log(2), abs=1e-6)
    with pytest.raises(ValueError, match=r"per-item probe must be \(B, N, N\)"):
        model(x, rel, model.probe)

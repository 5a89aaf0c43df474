"""Inference fits the unrolled generator's updates with the probe of the scan being reconstructed."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

from ptycho_engine.inference.reconstruct import predict_and_stitch, scan_probe_in_physics
from ptycho_engine.model.pinn import PtychoPINN
from ptycho_engine.simulate.probes import disk_probe, focused_probe
from ptycho_engine.simulate.simulator import simulate_scan
from ptycho_engine.training.data import build_groups


def _model(probe: np.ndarray) -> PtychoPINN:
    torch.manual_seed(0)
    return PtychoPINN(probe, N=64, gridsize=2, n_filters_scale=1, probe_big=False, generator="unrolled",
                      unroll_steps=4).eval()


def test_the_scans_probe_is_used_scaled_to_the_models_energy_and_restored():
    model = _model(disk_probe(64))
    before = model.probe.clone()
    scan_probe = 3.0 * focused_probe(64, np.random.default_rng(1))
    with scan_probe_in_physics(model, scan_probe):
        inside = model.probe.clone()
    torch.testing.assert_close(model.probe, before)  # restored
    expected = torch.from_numpy(scan_probe) * (before.abs().square().sum() / np.square(np.abs(scan_probe)).sum()) ** 0.5
    torch.testing.assert_close(inside, expected.to(torch.complex64), rtol=1e-5, atol=1e-6)


def test_a_model_trained_with_another_probe_reconstructs_like_one_holding_the_scans_probe():
    scan = simulate_scan("lines", "focused", "fermat", N=64, n_positions=40, object_size=110, nphotons=1e6, seed=3)
    grouped = build_groups(scan, SimpleNamespace(model=SimpleNamespace(gridsize=2), n_groups=None, n_subsample=None,
                                                 subsample_seed=None, neighbor_count=4, enable_oversampling=False,
                                                 sequential_sampling=False, seed=0))
    kwargs = dict(probe=scan.probe, weighting="probe", phase_sync_passes=1)
    disk = disk_probe(64)
    scaled = scan.probe * np.sqrt(np.square(np.abs(disk)).sum() / np.square(np.abs(scan.probe)).sum())
    other, own = _model(disk), _model(scaled.astype(np.complex64))  # same weights (same seed)
    a = predict_and_stitch(other, grouped, "cpu", 16, arch=other.arch, **kwargs)
    b = predict_and_stitch(own, grouped, "cpu", 16, arch=own.arch, **kwargs)
    np.testing.assert_allclose(a.object, b.object, rtol=0, atol=1e-4 * np.abs(b.object).max())
    torch.testing.assert_close(other.probe, torch.from_numpy(disk))  # restored afterwards
    # and it matters: with the training probe the updates fit a different physics
    import ptycho_engine.inference.reconstruct as rec
    import contextlib

    keep = rec.scan_probe_in_physics
    rec.scan_probe_in_physics = lambda m, p: contextlib.nullcontext()
    try:
        c = predict_and_stitch(other, grouped, "cpu", 16, arch=other.arch, **kwargs)
    finally:
        rec.scan_probe_in_physics = keep
    assert np.abs(c.object - b.object).max() > 0.1 * np.abs(b.object).max()

"""Build the pieces every training benchmark shares: cheap grouped data and the engine's model.

The model is the engine's own ``PtychoPINN`` with the canonical defaults (n_filters_scale 2,
object_big, probe_big, pad_object, sigmoid amplitude), scales computed as ``train_model`` does;
the reference CNN generator unless a row asks for another (``generator=...``).
"""
from __future__ import annotations

from types import SimpleNamespace


from .datasets import synthetic_scan


def grouped_data(n_groups: int, N: int, gridsize: int, seed: int = 0):
    """(GroupedScan, scan) with exactly ``n_groups`` groups of C = gridsize^2 patterns."""
    from ptycho_engine.training.data import build_groups

    n_patterns = max(n_groups * gridsize * gridsize // 2, n_groups, 64)
    scan = synthetic_scan(n_patterns, N, seed)
    cfg = SimpleNamespace(model=SimpleNamespace(gridsize=gridsize), n_groups=n_groups, n_subsample=None,
                          subsample_seed=None, neighbor_count=4, enable_oversampling=gridsize > 1,
                          sequential_sampling=False, seed=42)
    grouped = build_groups(scan, cfg)
    return grouped, scan


def make_model(scan, N: int, gridsize: int, nphotons: float = 1e6, generator: str = "cnn"):
    import torch

    from ptycho_engine.model.pinn import PtychoPINN, counts_scale_from_data, input_scale_from_data

    torch.manual_seed(0)
    return PtychoPINN(scan.probe, N=N, gridsize=gridsize, generator=generator,
                      input_scale=input_scale_from_data(scan.diffraction, N),
                      counts_scale=counts_scale_from_data(scan.diffraction, nphotons))

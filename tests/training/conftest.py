"""Tiny simulated scans and payloads for the training tests (built with the PHYSICS forward model)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter


def simulate_tiny_scan(path: Path, n: int = 40, N: int = 64, size: int = 128, nphotons: float = 1e6,
                       seed: int = 0) -> Path:
    """A smooth random object, a soft disk probe, n random positions, Poisson counts."""
    from ptycho_engine.data.contract import ScanData, save_scan
    from ptycho_engine.physics.forward import forward_amplitude, photon_scale, poisson_amplitude
    from ptycho_engine.physics.shifts import extract_patches

    rng = np.random.default_rng(seed)
    amp = gaussian_filter(rng.random((size, size)), 3)
    amp = 0.3 + 0.7 * (amp - amp.min()) / (amp.max() - amp.min())
    phase = gaussian_filter(rng.standard_normal((size, size)), 4)
    phase = 1.0 * phase / np.abs(phase).max()
    obj = (amp * np.exp(1j * phase)).astype(np.complex64)
    yy, xx = np.mgrid[:N, :N] - N // 2
    probe = gaussian_filter((np.hypot(yy, xx) < N / 4).astype(float), 1.0).astype(np.complex64)
    lo, hi = N // 2 + 1, size - N // 2 - 1
    xy = rng.uniform(lo, hi, size=(n, 2))
    patches = extract_patches(torch.from_numpy(obj), torch.from_numpy(xy), N)
    A = forward_amplitude(patches, torch.from_numpy(probe))
    s = photon_scale(A, nphotons)
    gen = torch.Generator().manual_seed(seed)
    X = poisson_amplitude(A, s, generator=gen).numpy().astype(np.float32)
    scan = ScanData(path=None, diffraction=X, probe=probe, xcoords=xy[:, 0].copy(), ycoords=xy[:, 1].copy(),
                    object_guess=obj, scan_index=np.arange(n),
                    metadata={"schema_version": "1.0", "physics_parameters": {"nphotons": nphotons},
                              "creation_info": {"script": "tests"}})
    return save_scan(path, scan)


@pytest.fixture(scope="session")
def tiny_scan(tmp_path_factory) -> Path:
    return simulate_tiny_scan(tmp_path_factory.mktemp("scan") / "tiny.npz")


def make_payload(train_file: Path, output_dir: Path, *, gridsize: int = 1, nepochs: int = 2, n_groups: int = 32,
                 batch_size: int = 8, n_filters_scale: int = 1, model: dict | None = None,
                 training: dict | None = None, **execution) -> Any:
    """A real TrainingPayload from CONFIG's factory (tiny network: n_filters_scale 1, CPU, no logger)."""
    from ptycho_engine.config.execution import PyTorchExecutionConfig
    from ptycho_engine.config.factory import create_training_payload

    overrides = dict(gridsize=gridsize, n_filters_scale=n_filters_scale, nepochs=nepochs, n_groups=n_groups,
                     batch_size=batch_size)
    overrides.update(model or {})
    overrides.update(training or {})
    exe_kwargs = dict(accelerator="cpu", logger_backend="none")
    exe_kwargs.update(execution)
    return create_training_payload(train_file, output_dir, overrides, PyTorchExecutionConfig(**exe_kwargs))


@pytest.fixture
def payload_factory(tiny_scan, tmp_path):
    def factory(subdir: str = "run", **kwargs) -> Any:
        return make_payload(tiny_scan, tmp_path / subdir, **kwargs)

    return factory

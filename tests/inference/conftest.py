"""Tiny simulated scans, trained archives and inference payloads for the inference tests.

Scans are made with the PHYSICS forward model (the same one training uses); the trained models
are 1-epoch, n_filters_scale=1 runs of the real factory + ``train_model`` (session-scoped: the
slow part is shared by every test).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter


def make_object(size: int, seed: int) -> np.ndarray:
    """Smooth random complex object: amplitude in [0.3, 1], phase within +-1 rad."""
    rng = np.random.default_rng(seed)
    amp = gaussian_filter(rng.random((size, size)), 3)
    amp = 0.3 + 0.7 * (amp - amp.min()) / (amp.max() - amp.min())
    phase = gaussian_filter(rng.standard_normal((size, size)), 4)
    phase = phase / np.abs(phase).max()
    return (amp * np.exp(1j * phase)).astype(np.complex64)


def make_probe(N: int) -> np.ndarray:
    yy, xx = np.mgrid[:N, :N] - N // 2
    return gaussian_filter((np.hypot(yy, xx) < N / 4).astype(float), 1.0).astype(np.complex64)


def simulate_scan(path: Path, n: int = 40, N: int = 64, size: int = 128, nphotons: float = 1e6, seed: int = 0,
                  integer_positions: bool = False, with_object: bool = True) -> Path:
    """A scan NPZ: n random positions (integer when asked) inside the object, Poisson counts."""
    from ptycho_engine.data.contract import ScanData, save_scan
    from ptycho_engine.physics.forward import forward_amplitude, photon_scale, poisson_amplitude
    from ptycho_engine.physics.shifts import extract_patches

    rng = np.random.default_rng(seed + 1000)
    obj = make_object(size, seed)
    probe = make_probe(N)
    lo, hi = N // 2 + 1, size - N // 2 - 1
    xy = rng.uniform(lo, hi, size=(n, 2))
    if integer_positions:
        xy = np.round(xy)
    patches = extract_patches(torch.from_numpy(obj), torch.from_numpy(xy), N)
    A = forward_amplitude(patches, torch.from_numpy(probe))
    s = photon_scale(A, nphotons)
    X = poisson_amplitude(A, s, generator=torch.Generator().manual_seed(seed)).numpy().astype(np.float32)
    scan = ScanData(path=None, diffraction=X, probe=probe, xcoords=xy[:, 0].copy(), ycoords=xy[:, 1].copy(),
                    object_guess=obj if with_object else None, scan_index=np.arange(n),
                    metadata={"schema_version": "1.0", "physics_parameters": {"nphotons": nphotons},
                              "creation_info": {"script": "tests/inference"}})
    return save_scan(path, scan)


def train_tiny(train_file: Path, output_dir: Path, gridsize: int) -> Path:
    """1 epoch of the real trainer on a tiny network; returns the run directory."""
    from ptycho_engine.config.execution import PyTorchExecutionConfig
    from ptycho_engine.config.factory import create_training_payload
    from ptycho_engine.training.run import train_model

    payload = create_training_payload(
        train_file, output_dir,
        dict(gridsize=gridsize, n_filters_scale=1, nepochs=1, n_groups=16, batch_size=8),
        PyTorchExecutionConfig(accelerator="cpu", logger_backend="none", enable_checkpointing=False,
                               preview_every_n_epochs=0))
    result = train_model(payload)
    assert result.archive_path.is_file()
    return output_dir


@pytest.fixture(scope="session")
def infer_data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("infer-data")
    return {
        "train": simulate_scan(root / "train.npz", seed=0),
        "test": simulate_scan(root / "test.npz", n=30, seed=1),
        "test_int": simulate_scan(root / "test_int.npz", n=30, seed=2, integer_positions=True),
        "no_ref": simulate_scan(root / "no_ref.npz", n=12, seed=3, with_object=False),
        "n128": simulate_scan(root / "n128.npz", n=6, N=128, size=256, seed=4),
    }


@pytest.fixture(scope="session")
def model_gs1(infer_data, tmp_path_factory) -> Path:
    return train_tiny(infer_data["train"], tmp_path_factory.mktemp("model-gs1"), gridsize=1)


@pytest.fixture(scope="session")
def model_gs2(infer_data, tmp_path_factory) -> Path:
    return train_tiny(infer_data["train"], tmp_path_factory.mktemp("model-gs2"), gridsize=2)


def make_inference_payload(model_dir: Path, test_file: Path, output_dir: Path, overrides: dict | None = None,
                           **execution: Any) -> Any:
    from ptycho_engine.config.execution import PyTorchExecutionConfig
    from ptycho_engine.config.factory import create_inference_payload

    exe = dict(accelerator="cpu")
    exe.update(execution)
    return create_inference_payload(model_dir, test_file, output_dir, overrides or {},
                                    PyTorchExecutionConfig(**exe))


class EventLog(list):
    """An on_event callback that keeps every event."""

    def __call__(self, event: Any) -> None:
        self.append(event)

    def of(self, kind: type) -> list:
        return [e for e in self if isinstance(e, kind)]


# test modules cannot import this conftest by name (--import-mode=importlib, several conftest.py),
# so the helpers are handed out as fixtures
@pytest.fixture
def make_payload():
    return make_inference_payload


@pytest.fixture
def make_scan():
    return simulate_scan


@pytest.fixture
def events() -> EventLog:
    return EventLog()


#: pattern size of the refinement scan (small_scan)
REFINE_N = 32


@pytest.fixture(scope="session")
def small_scan() -> dict:
    """A 64 x 64 object scanned on a jittered grid (step 4 px) by a disk probe, 1e6 photons."""
    from ptycho_engine.physics.forward import forward_amplitude, photon_scale, poisson_amplitude
    from ptycho_engine.physics.shifts import extract_patches

    rng = np.random.default_rng(3)
    amp = gaussian_filter(rng.random((64, 64)), 1.5)
    amp = 0.3 + 0.7 * (amp - amp.min()) / np.ptp(amp)
    phase = gaussian_filter(rng.standard_normal((64, 64)), 2)
    obj = (amp * np.exp(1j * phase / np.abs(phase).max())).astype(np.complex64)
    yy, xx = np.mgrid[:REFINE_N, :REFINE_N] - REFINE_N // 2
    probe = gaussian_filter((np.hypot(yy, xx) < REFINE_N / 4).astype(float), 0.7).astype(np.complex64)
    grid = np.arange(18, 47, 4, dtype=np.float64)
    xy = np.stack(np.meshgrid(grid, grid), -1).reshape(-1, 2) + rng.uniform(-1, 1, (len(grid) ** 2, 2))
    A = forward_amplitude(extract_patches(torch.from_numpy(obj), torch.from_numpy(xy), REFINE_N),
                          torch.from_numpy(probe))
    X = poisson_amplitude(A, photon_scale(A, 1e6), generator=torch.Generator().manual_seed(0)).numpy()
    lit = np.zeros((64, 64), bool)
    for x, y in np.round(xy).astype(int):
        lit[y - 6:y + 6, x - 6:x + 6] = True  # well inside every probe disk (radius 8)
    return {"obj": obj, "probe": probe, "xy": xy, "X": X, "lit": lit}


@pytest.fixture(scope="session")
def region_ssim():
    """(amplitude, phase) SSIM of a reconstruction against the truth inside the lit region."""
    from ptycho_engine.metrics.evaluate import evaluate_reconstruction

    def score(rec: np.ndarray, ref: np.ndarray, lit: np.ndarray) -> tuple[float, float]:
        rows, cols = np.where(lit)
        sl = np.s_[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
        m = evaluate_reconstruction(rec[sl], ref[sl], register=False)
        return m["amplitude"]["ssim"], m["phase"]["ssim"]

    return score

"""Tiny scan files and model archives for the config tests (built in tmp_path, milliseconds)."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ptycho_engine.config import params


def make_npz(path: Path, n: int = 100, N: int = 64, nphotons: float | None = None, probe: bool = True,
             legacy_hwn: bool = False) -> Path:
    """A minimal contract NPZ: zero amplitudes, flat probe, a raster of positions, optional _metadata."""
    side = int(np.ceil(np.sqrt(n)))
    xs, ys = np.meshgrid(np.arange(side) * 4.0 + N, np.arange(side) * 4.0 + N)
    arrays: dict[str, Any] = {
        "diffraction": np.zeros((N, N, n) if legacy_hwn else (n, N, N), np.float32),
        "xcoords": xs.ravel()[:n].astype(np.float64),
        "ycoords": ys.ravel()[:n].astype(np.float64),
    }
    if probe:
        arrays["probeGuess"] = np.ones((N, N), np.complex64)
    if nphotons is not None:
        meta = {"schema_version": "1.0", "physics_parameters": {"nphotons": nphotons}}
        arrays["_metadata"] = np.array(json.dumps(meta))  # 0-d unicode array, never an object array
    np.savez_compressed(path, **arrays)
    return path


def make_archive(directory: Path, model: dict[str, Any] | None = None,
                 training: dict[str, Any] | None = None) -> Path:
    """A wts.h5.zip with just manifest.json + config.json (all the inference factory reads)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "wts.h5.zip"
    manifest = {"format_version": 1, "engine_version": "test", "backend": "pytorch", "created": "now"}
    config = {"model": dict(model or {"N": 64, "gridsize": 1}), "training": dict(training or {})}
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("manifest.json", json.dumps(manifest))
        zf.writestr("config.json", json.dumps(config))
    return path


@pytest.fixture(autouse=True)
def _fresh_params():
    """Each test starts and ends with a default params.cfg (it is a module-level registry)."""
    params.reset()
    yield
    params.reset()


@pytest.fixture
def temp_output_dir(tmp_path: Path) -> Path:
    return tmp_path / "outputs"


@pytest.fixture
def mock_train_npz(tmp_path: Path) -> Path:
    """DATA-contract training NPZ: N=64, 100 patterns, nphotons 1e6 in _metadata."""
    return make_npz(tmp_path / "train.npz", n=100, N=64, nphotons=1e6)


@pytest.fixture
def mock_test_npz(tmp_path: Path) -> Path:
    """Smaller test NPZ: N=64, 20 patterns, no metadata."""
    return make_npz(tmp_path / "test.npz", n=20, N=64)


@pytest.fixture
def mock_checkpoint_dir(tmp_path: Path) -> Path:
    """A model directory holding a wts.h5.zip trained at N=64, gridsize 1."""
    directory = tmp_path / "model"
    make_archive(directory, {"N": 64, "gridsize": 1, "n_filters_scale": 2, "amp_activation": "sigmoid"},
                 {"nphotons": 1e7, "neighbor_count": 4, "nepochs": 3})
    return directory


@pytest.fixture
def npz_factory(tmp_path: Path):
    """make_npz bound to tmp_path: npz_factory('name.npz', n=..., N=..., nphotons=...)."""
    def _make(name: str, **kwargs: Any) -> Path:
        return make_npz(tmp_path / name, **kwargs)
    return _make


@pytest.fixture
def archive_factory(tmp_path: Path):
    """make_archive bound to tmp_path: archive_factory('dir', model={...}, training={...})."""
    def _make(name: str, model: dict[str, Any] | None = None, training: dict[str, Any] | None = None) -> Path:
        return make_archive(tmp_path / name, model, training).parent
    return _make

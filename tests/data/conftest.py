"""Tiny valid scan arrays and a writer for deliberately broken NPZ files."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

N_SIDE = 8
N_PATTERNS = 10


def valid_arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:N_SIDE, :N_SIDE] - N_SIDE / 2
    probe = (np.exp(-(xx**2 + yy**2) / 8.0) * np.exp(0.1j * xx)).astype(np.complex64)
    return {
        "diffraction": rng.uniform(0.0, 2.0, (N_PATTERNS, N_SIDE, N_SIDE)).astype(np.float32),
        "probeGuess": probe,
        "xcoords": np.linspace(10.0, 20.0, N_PATTERNS),
        "ycoords": np.linspace(12.0, 15.0, N_PATTERNS),
        "objectGuess": (np.ones((32, 32)) * np.exp(0.5j)).astype(np.complex64),
        "scan_index": np.zeros(N_PATTERNS, dtype=np.int64),
        "_metadata": np.array(json.dumps({"schema_version": "1.0", "physics_parameters": {"nphotons": 1e6}})),
    }


@pytest.fixture
def make_npz(tmp_path: Path) -> Callable[..., Path]:
    """make_npz(name, key=array | None, ...) writes a valid scan with the given keys replaced/dropped."""

    def _make(name: str = "scan.npz", **changes: Any) -> Path:
        arrays = valid_arrays()
        for key, value in changes.items():
            if value is None:
                arrays.pop(key, None)
            else:
                arrays[key] = value
        path = tmp_path / name
        with open(path, "wb") as fh:
            np.savez(fh, **arrays)  # allow_pickle is on for *writing*, so object arrays can be planted
        return path

    return _make

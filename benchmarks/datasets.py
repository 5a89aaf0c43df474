"""Benchmark datasets.

* :func:`synthetic_scan` / :func:`write_synthetic_npz`: CHEAP data of the right shape for speed and
  memory runs, NOT physically simulated: each pattern is sqrt(Poisson) counts drawn from a bank of
  256 pre-drawn speckle-like patterns (so 10^5 x 64^2 costs seconds, not the simulator's hours),
  a disk probe from the simulator, positions on a raster with step N/8. ``write_synthetic_npz``
  streams the diffraction straight into the zip member chunk by chunk, so writing 10^5 patterns
  never holds them in memory; files are stored uncompressed (the same layout as
  ``save_scan(..., compress=False)``) unless ``compress=True``.
* :func:`lines_scans`: two physically simulated 'lines' scans (train + test) for the quality run.
"""
from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path

import numpy as np

from ptycho_engine.data.contract import ScanData

BANK = 256
DEFAULT_DATA_DIR = Path(__file__).resolve().parent / ".data"


def _probe(N: int) -> np.ndarray:
    from ptycho_engine.simulate.probes import make_probe

    return make_probe("disk", N, np.random.default_rng(0)).astype(np.complex64)


def _positions(n: int, N: int) -> tuple[np.ndarray, np.ndarray]:
    side = int(math.ceil(math.sqrt(n)))
    step = N / 8.0
    k = np.arange(n)
    x = N + (k % side) * step
    y = N + (k // side) * step
    return x.astype(np.float64), y.astype(np.float64)


def _bank(N: int, seed: int = 0) -> np.ndarray:
    """(BANK, N, N) float32 amplitudes: sqrt(Poisson(I)) of smooth random far-field intensities."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:N, :N] - N / 2
    envelope = np.exp(-(xx**2 + yy**2) / (2 * (N / 6) ** 2))
    speckle = rng.gamma(1.0, 1.0, size=(BANK, N, N))
    lam = 1e6 / N**2 * 4 * envelope * speckle
    return np.sqrt(rng.poisson(lam)).astype(np.float32) / 30.0


def _chunks(n: int, N: int, chunk: int, seed: int):
    bank = _bank(N, seed)
    rng = np.random.default_rng(seed + 1)
    for s in range(0, n, chunk):
        k = min(chunk, n - s)
        yield bank[rng.integers(0, BANK, size=k)]


def synthetic_scan(n: int, N: int = 64, seed: int = 0) -> ScanData:
    """In-memory cheap scan (see module docstring)."""
    diff = np.concatenate(list(_chunks(n, N, 4096, seed)), axis=0)
    x, y = _positions(n, N)
    return ScanData(path=None, diffraction=diff, probe=_probe(N), xcoords=x, ycoords=y,
                    metadata={"schema_version": "1.0", "physics_parameters": {"nphotons": 1e6},
                              "creation_info": {"generator": "benchmarks.datasets.synthetic_scan (not physical)"}})


def write_synthetic_npz(path: Path, n: int, N: int = 64, seed: int = 0, compress: bool = False) -> Path:
    """Stream a cheap scan of ``n`` patterns into ``path`` (skipped when it already exists)."""
    path = Path(path)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    mode = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    x, y = _positions(n, N)
    meta = {"schema_version": "1.0", "physics_parameters": {"nphotons": 1e6},
            "creation_info": {"generator": "benchmarks.datasets.write_synthetic_npz (not physical)", "n": n}}
    with zipfile.ZipFile(tmp, "w", compression=mode, allowZip64=True) as zf:
        with zf.open("diffraction.npy", "w", force_zip64=True) as fh:
            np.lib.format.write_array_header_2_0(fh, {"descr": "<f4", "fortran_order": False, "shape": (n, N, N)})
            for block in _chunks(n, N, 2048, seed):
                fh.write(np.ascontiguousarray(block).tobytes())
        for name, arr in (("probeGuess", _probe(N)), ("xcoords", x), ("ycoords", y),
                          ("_metadata", np.array(json.dumps(meta)))):
            with zf.open(f"{name}.npy", "w") as fh:
                np.lib.format.write_array(fh, arr, allow_pickle=False)
    tmp.replace(path)
    return path


def lines_scans(out_dir: Path, N: int = 64, nphotons: float = 1e6, n_train: int = 600, n_test: int = 400,
                object_size: int = 240) -> tuple[Path, Path]:
    """Simulated 'lines' train and test scans (different seeds -> different objects), cached."""
    from ptycho_engine.data.contract import save_scan
    from ptycho_engine.simulate import simulate_scan

    out_dir = Path(out_dir)
    paths = []
    for name, n, seed in (("train", n_train, 7), ("test", n_test, 8)):
        p = out_dir / f"lines_N{N}_{name}_{n}_{int(nphotons):d}.npz"
        if not p.is_file():
            scan = simulate_scan("lines", "disk", "fermat", N=N, n_positions=n, object_size=object_size,
                                 nphotons=nphotons, seed=seed)
            save_scan(p, scan)
        paths.append(p)
    return paths[0], paths[1]

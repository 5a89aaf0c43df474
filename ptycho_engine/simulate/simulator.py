"""simulate_scan: object + probe + scan -> a contract-valid ScanData, through the SHARED physics.

Pipeline (every step is the function the network uses too):
    patches = physics.shifts.extract_patches(object, positions, N)
    A       = physics.forward.forward_amplitude(patches, probe)        |fftshift(fft2 ortho)|
    s       = physics.forward.photon_scale(A, nphotons)                mean total counts = nphotons
    X       = physics.forward.poisson_amplitude(A, s, generator)       sqrt(Poisson(s^2 A^2)) / s
The file stores X as `diffraction` (float32 amplitude, same scale as A), the probe, positions,
the true object as `objectGuess` and `_metadata.physics_parameters.nphotons`.

Determinism: one `np.random.SeedSequence(seed)` is split into independent streams for the object,
probe, scan and noise, so the same arguments give identical arrays and metadata (no timestamps).

Public API:
    simulate_scan(object_kind='lines', probe_kind='disk', scan_kind='fermat', N=64,
                  n_positions=None, step=None, object_size=256, nphotons=1e6, seed=42, *,
                  phase='derived', buffer=None, object=None, probe=None) -> ScanData
    forward_patterns(obj, probe, positions) -> (n, N, N) float32 noise-free amplitudes
    simulation_metadata(...) -> dict    (what simulate_scan writes into ScanData.metadata)
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ..data.contract import ScanData
from ..physics.forward import forward_amplitude, photon_scale, poisson_amplitude
from ..physics.shifts import extract_patches
from .objects import make_object
from .probes import make_probe
from .scans import make_scan, min_buffer

__all__ = ["simulate_scan", "simulation_metadata", "forward_patterns"]

_CHUNK = 512  # patterns per forward chunk (bounds memory for big scans)


def _engine_version() -> str:
    try:
        from importlib.metadata import version
        return version("ptycho-studio")
    except Exception:  # not installed (running from a checkout)
        return "0.1.0"


def forward_patterns(obj: np.ndarray, probe: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Noise-free amplitudes (n, N, N) float32 of `obj` scanned by `probe` at `positions` [x, y]."""
    N = probe.shape[-1]
    o = torch.from_numpy(np.ascontiguousarray(obj, dtype=np.complex64))
    p = torch.from_numpy(np.ascontiguousarray(probe, dtype=np.complex64))
    out = np.empty((len(positions), N, N), dtype=np.float32)
    with torch.no_grad():
        for s in range(0, len(positions), _CHUNK):
            patches = extract_patches(o, positions[s:s + _CHUNK], N)
            out[s:s + _CHUNK] = forward_amplitude(patches, p).numpy()
    return out


def simulation_metadata(*, N: int, nphotons: float, s: float, object_kind: str, probe_kind: str,
                        scan_kind: str, seed: int, object_size: int, n_positions: int,
                        phase: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Metadata of a simulated scan (JSON-able, deterministic: no clock, no host names)."""
    meta = {
        "schema_version": "1.0",
        "physics_parameters": {
            "nphotons": float(nphotons),
            "N": int(N),
            "photon_scale": float(s),
            "diffraction_units": "amplitude",
            "forward_model": "abs(fftshift(fft2(probe * object_patch, norm='ortho')))",
            "noise": "poisson",
        },
        "creation_info": {
            "generator": "ptycho_engine.simulate.simulate_scan",
            "engine_version": _engine_version(),
            "seed": int(seed),
            "object_kind": object_kind,
            "probe_kind": probe_kind,
            "scan_kind": scan_kind,
            "object_size": int(object_size),
            "n_positions": int(n_positions),
            "phase": phase,
        },
    }
    if extra:
        meta["creation_info"].update(extra)
    return meta


def simulate_scan(object_kind: str = "lines", probe_kind: str = "disk", scan_kind: str = "fermat",
                  N: int = 64, n_positions: int | None = None, step: float | None = None,
                  object_size: int | None = 256, nphotons: float = 1e6, seed: int = 42, *,
                  phase: str = "derived", buffer: float | None = None,
                  object: np.ndarray | None = None, probe: np.ndarray | None = None) -> ScanData:
    """Simulate a ptychographic scan (see module docstring); returns an in-memory ScanData.

    n_positions or step sets the scan density (default step N/8: ~60-70 % linear overlap of the
    ~N/3-wide probes). object_size=None sizes the object to fit the scan: side =
    ceil(sqrt(n_positions) * step) + 2 * (N//2 + 1) (4 N when n_positions is None).
    `object` / `probe` arrays override the generated ones (then object_kind / probe_kind are
    recorded as 'custom').
    """
    if N < 8 or N % 2:
        raise ValueError(f"N must be an even number >= 8, got {N}")
    if not nphotons > 0:
        raise ValueError(f"nphotons must be > 0, got {nphotons}")
    seeds = np.random.SeedSequence(int(seed)).spawn(4)
    rng_obj, rng_probe, rng_scan = (np.random.default_rng(s) for s in seeds[:3])
    noise_seed = int(seeds[3].generate_state(1, dtype=np.uint64)[0] & 0x7FFF_FFFF_FFFF_FFFF)

    default_step = N / 8.0 if step is None else float(step)
    if object is not None:
        obj = np.asarray(object, dtype=np.complex64)
        object_kind = "custom"
    else:
        if object_size is None:
            margin = 2 * (min_buffer(N) if buffer is None else int(math.ceil(buffer)))
            object_size = (int(math.ceil(math.sqrt(n_positions) * default_step)) + margin
                           if n_positions is not None else 4 * N)
        obj = make_object(object_kind, int(object_size), rng_obj, phase=phase)
    if probe is not None:
        prb = np.asarray(probe, dtype=np.complex64)
        if prb.shape != (N, N):
            raise ValueError(f"probe must be ({N}, {N}), got {prb.shape}")
        probe_kind = "custom"
    else:
        prb = make_probe(probe_kind, N, rng_probe)
    if n_positions is None and step is None:
        step = default_step
    positions = make_scan(scan_kind, obj.shape, N, rng_scan, n_positions=n_positions, step=step,
                          buffer=buffer)

    A = forward_patterns(obj, prb, positions)
    s = photon_scale(A, nphotons)
    gen = torch.Generator().manual_seed(noise_seed)
    X = poisson_amplitude(torch.from_numpy(A), s, gen).numpy().astype(np.float32)

    meta = simulation_metadata(N=N, nphotons=nphotons, s=s, object_kind=object_kind,
                               probe_kind=probe_kind, scan_kind=scan_kind, seed=seed,
                               object_size=int(obj.shape[0]), n_positions=len(positions), phase=phase,
                               extra={"step": None if step is None else float(step)})
    return ScanData(path=None, diffraction=X, probe=prb, xcoords=positions[:, 0].astype(np.float64),
                    ycoords=positions[:, 1].astype(np.float64), object_guess=obj,
                    scan_index=np.zeros(len(positions), dtype=np.int64), metadata=meta, warnings=[])

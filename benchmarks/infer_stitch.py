"""Inference throughput (patterns/s with the real network) and stitching time vs patch count.

Stitching runs ``ptycho_engine.stitching.stitch_patches`` (probe weighting, the inference
default) on random complex64 64x64 patches on a raster with step N/8 (the simulator's default
overlap); the growth exponent is the least-squares slope of log(time) vs log(patches).
"""
from __future__ import annotations

import time

import numpy as np
import torch

from .common import loadavg, log, median
from .datasets import _positions, _probe
from .setup_model import grouped_data, make_model


def inference_throughput(n_patterns: int, N: int = 64, gridsize: int = 1, batch: int = 64) -> dict:
    from ptycho_engine.inference.predict import predict_patches

    n_groups = n_patterns // (gridsize * gridsize)
    grouped, scan = grouped_data(n_groups, N, gridsize)
    model = make_model(scan, N, gridsize)
    predict_patches(model, grouped, "cpu", batch)  # warm-up (allocator, oneDNN primitives)
    t0, c0 = time.perf_counter(), time.process_time()
    predict_patches(model, grouped, "cpu", batch)
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    n = grouped.n_groups * gridsize * gridsize
    return {"N": N, "gridsize": gridsize, "batch": batch, "patterns": int(n), "wall_s": round(dt, 3),
            "patterns_per_s": n / dt, "patterns_per_cpu_s": n / dc, "load1": loadavg()[0]}


def _patches(n: int, N: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    bank = (rng.random((64, N, N)) * np.exp(1j * rng.random((64, N, N)))).astype(np.complex64)
    out = np.empty((n, N, N), np.complex64)
    for s in range(0, n, 4096):
        k = min(4096, n - s)
        out[s:s + k] = bank[rng.integers(0, 64, size=k)]
    return out


def stitch_scaling(sizes: list[int], N: int = 64, repeats: int = 3) -> dict:
    from ptycho_engine.stitching import stitch_patches

    probe = _probe(N)
    rows = []
    for n in sizes:
        patches = _patches(n, N)
        x, y = _positions(n, N)
        pos = np.stack([x + 0.37, y + 0.61], axis=1)  # sub-pixel: the general (bilinear) path
        times, loads = [], []
        reps = repeats if n <= 10_000 else max(1, repeats - 1)
        for _ in range(reps):
            t0 = time.perf_counter()
            res = stitch_patches(patches, pos, weighting="probe", probe=probe)
            times.append(time.perf_counter() - t0)
            loads.append(loadavg()[0])
        rows.append({"patches": n, "seconds_median": median(times), "seconds_all": [round(t, 3) for t in times],
                     "canvas": list(res.object.shape), "load1": loads})
        log(f"stitch {n} patches: {median(times):.2f} s (canvas {res.object.shape})")
        del patches, res
    xs = np.log([r["patches"] for r in rows])
    ys = np.log([r["seconds_median"] for r in rows])
    slope = float(np.polyfit(xs, ys, 1)[0]) if len(rows) >= 2 else float("nan")
    return {"N": N, "rows": rows, "loglog_slope": slope}


def run(quick: bool) -> dict:
    torch.set_num_threads(max(1, torch.get_num_threads()))
    n_inf = 128 if quick else 512
    out = {"inference": [inference_throughput(n_inf, 64, 1, 64)]}
    log(f"inference: {out['inference'][0]['patterns_per_s']:.1f} patterns/s")
    sizes = [1_000, 10_000] if quick else [1_000, 10_000, 100_000]
    out["stitching"] = stitch_scaling(sizes, 64, repeats=2 if quick else 3)
    return out

"""Peak memory as the dataset grows (N=64), one fresh subprocess per (mode, size).

Modes (child process, ``python -m benchmarks.memory MODE PATH CACHE_DIR``):
  train_load     load_scan(path) (arrays read into memory: today's train_model) + build_groups
                 (gridsize 1, every pattern) + one pass of the training DataLoader (batch 64, shuffled)
  train_stream   the same with open_scan_streaming(path, cache_dir) (read-only memmap)
  train_stream_prep  train_stream + train_model's scale preparation (statistics read in place)
                 (``scan.diffraction[train_ds.pattern_indices()]``: a fancy-index COPY)
  infer_current  load_scan + groups + inference.predict_patches (all patches kept) + stitch_prediction
  infer_stream   open_scan_streaming + the engine's inference.reconstruct.predict_and_stitch (chunked)
Inference modes use StandInModel (see streaming.py) instead of the CNN: same memory path, no hour
of CPU. Reported: peak RSS (VmHWM, = ru_maxrss of a fresh process; includes file-backed pages of a memmap that were touched;
the kernel can drop those at any time) and the peak of RssAnon sampled every 5 ms (anonymous
memory: what the process really holds).
"""
from __future__ import annotations

import json
import resource
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from .common import loadavg, log, run_child

MODES = ("train_load", "train_stream", "train_stream_prep", "infer_current", "infer_stream", "refine_stream")


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _peak_rss_kib() -> int:
    """VmHWM (reset at exec) -- ru_maxrss of a fork+exec'd child can report the PARENT's peak."""
    return _status_kib("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


class AnonSampler(threading.Thread):
    """Samples RssAnon (kB) every ``period`` seconds; ``peak`` is the maximum seen."""

    def __init__(self, period: float = 0.005) -> None:
        super().__init__(daemon=True)
        self.period, self.peak, self._stop_flag = period, 0, threading.Event()

    def run(self) -> None:
        while not self._stop_flag.is_set():
            self.peak = max(self.peak, _status_kib("RssAnon"))
            time.sleep(self.period)

    def stop(self) -> int:
        self._stop_flag.set()
        self.join()
        self.peak = max(self.peak, _status_kib("RssAnon"))
        return self.peak


def _groups(scan):
    from ptycho_engine.training.data import build_groups

    cfg = SimpleNamespace(model=SimpleNamespace(gridsize=1), n_groups=None, n_subsample=None, subsample_seed=None,
                          neighbor_count=4, enable_oversampling=False, sequential_sampling=False, seed=42)
    return build_groups(scan, cfg)


def child(mode: str, path: str, cache_dir: str) -> dict:
    import torch

    from ptycho_engine.data.cache import open_scan_streaming
    from ptycho_engine.data.contract import load_scan
    from ptycho_engine.training.data import GroupDataset, make_loader

    torch.set_num_threads(1)
    base_anon = _status_kib("RssAnon")
    sampler = AnonSampler()
    sampler.start()
    t0 = time.perf_counter()
    stream = "stream" in mode
    extra: dict = {}
    scan = open_scan_streaming(path, cache_dir=cache_dir) if stream else load_scan(path)
    t_load = time.perf_counter() - t0
    grouped = _groups(scan)
    if mode.startswith("train"):
        ds = GroupDataset(grouped, np.arange(grouped.n_groups))
        if mode == "train_stream_prep":
            from ptycho_engine.model.pinn import input_scale_from_data

            input_scale_from_data(scan.diffraction, scan.N, indices=ds.pattern_indices())  # as train_model
        total = 0.0
        for x, _rel, _idx in make_loader(ds, 64, True, 0, 42):
            total += float(x[:, :, 0, 0].sum())
    elif mode == "infer_current":
        from ptycho_engine.inference.predict import predict_patches
        from ptycho_engine.inference.stitch import stitch_prediction

        from .streaming import StandInModel

        patches = predict_patches(StandInModel(), grouped, "cpu", 64)
        positions = (grouped.centres[:, None, :] + grouped.rel).reshape(-1, 2)
        stitch_prediction(patches.reshape(-1, scan.N, scan.N), positions, probe=scan.probe, weighting="probe")
    elif mode == "infer_stream":
        from ptycho_engine.inference.reconstruct import predict_and_stitch

        from .streaming import StandInModel

        predict_and_stitch(StandInModel(), grouped, "cpu", 64, probe=scan.probe, weighting="probe", arch=None)
    elif mode == "refine_stream":
        # one refinement pass over every pattern of a memory-mapped scan (object, probe and positions)
        from ptycho_engine.inference.refine import refine_object
        from ptycho_engine.stitching import canvas_frame

        positions = np.stack([np.asarray(scan.xcoords), np.asarray(scan.ycoords)], axis=1)
        ox, oy, H, W = canvas_frame(positions, scan.N)
        t_refine = time.perf_counter()
        refine_object(np.full((H, W), 0.5, np.complex64), ox, oy, scan.diffraction, np.arange(scan.n_patterns),
                      positions, scan.probe, epochs=1, refine_probe=True, refine_positions=False)
        extra["refine_pass_s"] = round(time.perf_counter() - t_refine, 2)
        extra["refine_s_per_pass_per_1e4"] = round(extra["refine_pass_s"] * 1e4 / scan.n_patterns, 2)
    else:
        raise ValueError(mode)
    elapsed = time.perf_counter() - t0
    peak_anon = sampler.stop()
    return {"mode": mode, "n_patterns": scan.n_patterns, "seconds": round(elapsed, 2), "load_s": round(t_load, 2),
            "ru_maxrss_mib": round(_peak_rss_kib() / 1024, 1),
            "peak_rss_anon_mib": round(peak_anon / 1024, 1), "rss_anon_at_start_mib": round(base_anon / 1024, 1),
            "diffraction_mib": round(scan.diffraction.nbytes / 2**20, 1), "load1": loadavg()[0], **extra}


def run(quick: bool, data_dir: Path) -> dict:
    from .datasets import write_synthetic_npz

    sizes = [2_000, 10_000] if quick else [10_000, 30_000, 100_000]
    modes = ["train_load", "train_stream", "infer_current", "infer_stream", "refine_stream"]
    if not quick:
        modes.insert(2, "train_stream_prep")
    rows = []
    cache = data_dir / "cache"
    for n in sizes:
        t0 = time.perf_counter()
        path = write_synthetic_npz(data_dir / f"synthetic_N64_{n}.npz", n, 64)
        log(f"dataset {path.name} ready ({time.perf_counter() - t0:.1f} s)")
        for mode in modes:
            proc = run_child(["-m", "benchmarks.memory", mode, str(path), str(cache)], timeout=1800)
            if proc.returncode != 0:
                rows.append({"mode": mode, "n_patterns": n, "error": proc.stderr[-2000:]})
                log(f"memory {mode} {n}: FAILED {proc.stderr[-300:]}")
                continue
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append(row)
            log(f"memory {mode} {n}: maxrss {row['ru_maxrss_mib']} MiB, anon {row['peak_rss_anon_mib']} MiB, "
                f"{row['seconds']} s")
    # a compressed source goes through the one-off cache conversion: time it once
    comp = write_synthetic_npz(data_dir / f"synthetic_N64_{sizes[0]}_compressed.npz", sizes[0], 64, compress=True)
    from ptycho_engine.data.cache import cache_path_for, open_scan_streaming

    target = cache_path_for(comp, cache)
    target.unlink(missing_ok=True)
    t0 = time.perf_counter()
    open_scan_streaming(comp, cache_dir=cache)
    t_conv = time.perf_counter() - t0
    t0 = time.perf_counter()
    open_scan_streaming(comp, cache_dir=cache)
    t_hit = time.perf_counter() - t0
    return {"rows": rows, "cache_conversion": {"n_patterns": sizes[0], "convert_s": round(t_conv, 2),
                                                "cached_open_s": round(t_hit, 3), "load1": loadavg()[0]}}


if __name__ == "__main__":
    print(json.dumps(child(sys.argv[1], sys.argv[2], sys.argv[3])))

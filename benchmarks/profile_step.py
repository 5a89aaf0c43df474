"""Where the training step's time goes, and what the candidate speed-ups buy.

1. Phases (torch.profiler + record_function around each part of one step of the SAME math as
   PinnModule._step): network forward (generator), physics forward (merge/split, probe, FFT),
   loss, backward, optimiser; plus the op table (self CPU time) with the share of convolutions.
2. Data loading alone: seconds per batch for the engine's per-item GroupDataset+collate and for
   a batched sorted gather (benchmarks.train_bench.BatchedGroups).
3. Variants, interleaved and repeated (medians; wall and process-CPU seconds per step):
   plain fp32 (NCHW); deterministic algorithms on (the execution config's default); channels_last
   (the engine's default layout);
   bf16 autocast on CPU; fused Adam; 1 thread vs 2; torch.compile of the generator (full run only).
"""
from __future__ import annotations

import contextlib
import time

import numpy as np
import torch

from .common import loadavg, log, median
from .setup_model import grouped_data, make_model


def _batch(grouped, b: int):
    idx = grouped.groups[:b]
    x = torch.from_numpy(np.asarray(grouped.diffraction[idx.reshape(-1)], np.float32).reshape(idx.shape + grouped.diffraction.shape[1:]))
    rel = torch.from_numpy(grouped.rel[:b].astype(np.float32))
    return x, rel


def _stepper(model, x, rel, autocast: bool = False, fused: bool = False):
    from ptycho_engine.model.loss import LossWeights, compute_loss

    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3, fused=fused or None)
    w = LossWeights()
    rf = torch.profiler.record_function

    def step() -> None:
        ctx = torch.autocast("cpu", dtype=torch.bfloat16) if autocast else contextlib.nullcontext()
        with ctx:
            with rf("1_network_forward"):
                obj = model.predict_object(x, rel)
            with rf("2_physics_forward"), torch.autocast("cpu", enabled=False):
                pred = model._physics(obj, rel)  # noqa: SLF001 - the step's own physics
            with rf("3_loss"):
                loss = compute_loss(pred, x, model.counts_scale, model.input_scale, w)["loss"]
        with rf("4_backward"):
            opt.zero_grad()
            loss.backward()
        with rf("5_optimizer"):
            opt.step()

    return step


def phases(N: int = 64, gridsize: int = 2, b: int = 16, steps: int = 3) -> dict:
    grouped, scan = grouped_data(b, N, gridsize)
    model = make_model(scan, N, gridsize)
    x, rel = _batch(grouped, b)
    step = _stepper(model, x, rel)
    step()
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    ka = prof.key_averages()
    phase = {e.key: e.cpu_time_total / 1e6 / steps for e in ka if e.key[:2] in ("1_", "2_", "3_", "4_", "5_")}
    ops = sorted([e for e in ka if not e.key[:2] in ("1_", "2_", "3_", "4_", "5_")],
                 key=lambda e: -e.self_cpu_time_total)
    total_self = sum(e.self_cpu_time_total for e in ops) or 1.0
    conv = sum(e.self_cpu_time_total for e in ops if "conv" in e.key.lower() or "mkldnn" in e.key.lower())
    fft = sum(e.self_cpu_time_total for e in ops if "fft" in e.key.lower())
    grid = sum(e.self_cpu_time_total for e in ops if "grid_sampler" in e.key.lower())
    top = [{"op": e.key, "self_s_per_step": round(e.self_cpu_time_total / 1e6 / steps, 4),
            "share": round(e.self_cpu_time_total / total_self, 3)} for e in ops[:15]]
    return {"config": {"N": N, "gridsize": gridsize, "batch": b}, "phase_s_per_step": phase,
            "share_convolution_ops": conv / total_self, "share_fft_ops": fft / total_self,
            "share_grid_sample_ops": grid / total_self, "top_ops": top, "load1": loadavg()[0]}


def data_loading(N: int = 64, gridsize: int = 2, b: int = 16, n_batches: int = 40) -> dict:
    from ptycho_engine.training.data import GroupDataset, make_loader

    from .train_bench import batched_loader

    grouped, _ = grouped_data(b * n_batches, N, gridsize)
    ids = np.arange(grouped.n_groups)
    out = {}
    for name, make in (("per_item_GroupDataset", lambda: make_loader(GroupDataset(grouped, ids), b, True, 0, 42)),
                       ("batched_gather", lambda: batched_loader(grouped, ids, b))):
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            for _batch in make():
                pass
            times.append((time.perf_counter() - t0) / n_batches)
        out[name + "_s_per_batch"] = median(times)
    out["load1"] = loadavg()[0]
    return out


def variants(N: int = 64, gridsize: int = 2, b: int = 16, rounds: int = 3, with_compile: bool = False) -> dict:
    grouped, scan = grouped_data(b, N, gridsize)
    x, rel = _batch(grouped, b)
    n_threads = torch.get_num_threads()

    def build(kind: str):
        torch.use_deterministic_algorithms(kind == "deterministic")
        model = make_model(scan, N, gridsize)
        model.generator.set_channels_last(kind == "channels_last")  # every other variant: plain NCHW
        xx = x
        if kind == "compile":
            model.generator = torch.compile(model.generator)
        return _stepper(model, xx, rel, autocast=kind == "bf16_autocast", fused=kind == "adam_fused")

    kinds = ["fp32", "deterministic", "channels_last", "bf16_autocast", "adam_fused", "threads_1"]
    if with_compile:
        kinds.append("compile")
    steppers, results = {}, {k: {"wall": [], "cpu": []} for k in kinds}
    compile_s = None
    for k in kinds:
        t0 = time.perf_counter()
        steppers[k] = build(k)
        torch.set_num_threads(1 if k == "threads_1" else n_threads)
        steppers[k]()  # warm-up (for compile: the compilation)
        if k == "compile":
            compile_s = time.perf_counter() - t0
    for _ in range(rounds):  # interleaved: each round runs every variant once
        for k in kinds:
            torch.use_deterministic_algorithms(k == "deterministic")
            torch.set_num_threads(1 if k == "threads_1" else n_threads)
            t0, c0 = time.perf_counter(), time.process_time()
            steppers[k]()
            results[k]["wall"].append(time.perf_counter() - t0)
            results[k]["cpu"].append(time.process_time() - c0)
    torch.use_deterministic_algorithms(False)
    torch.set_num_threads(n_threads)
    ref_w, ref_c = median(results["fp32"]["wall"]), median(results["fp32"]["cpu"])
    table = {k: {"wall_s": median(v["wall"]), "cpu_s": median(v["cpu"]),
                 "speedup_wall": ref_w / median(v["wall"]), "speedup_cpu": ref_c / median(v["cpu"]),
                 "wall_all": [round(t, 3) for t in v["wall"]]} for k, v in results.items()}
    return {"config": {"N": N, "gridsize": gridsize, "batch": b, "rounds": rounds}, "variants": table,
            "compile_time_s": compile_s, "load1": loadavg()[0]}


def run(quick: bool) -> dict:
    out = {"phases": phases(steps=2 if quick else 4)}
    log(f"profile phases {out['phases']['phase_s_per_step']}")
    out["data_loading"] = data_loading(n_batches=20 if quick else 60)
    log(f"data loading {out['data_loading']}")
    out["variants"] = variants(rounds=1 if quick else 4, with_compile=not quick)
    log("variants " + ", ".join(f"{k}: x{v['speedup_cpu']:.2f}" for k, v in out["variants"]["variants"].items()))
    return out

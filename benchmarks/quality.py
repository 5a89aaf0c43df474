"""Reconstruction quality against training time on simulated 'lines' scans (N=64, gridsize 2,
nphotons 1e6).

One training run is continued in stages (resume from ``checkpoints/last.ckpt``) to cumulative
wall-time budgets (1, 3, 6 min in the full run: the epochs for each budget are computed from the
epoch time measured so far, because the load of the shared machine drifts); after each stage the archive reconstructs a SEPARATE simulated scan of the same
kind (different seed -> different object) with ``run_inference``, whose metrics (aligned
amplitude/phase SSIM, FRC resolution) come from ``metrics.evaluate_reconstruction`` via
``inference.compare_with_reference``. Wall time = the run's cumulative training time.

Each stage also reconstructs with physics refinement (``refine_epochs`` = REFINE_EPOCHS) and, as
the control that shows what the network contributes, refines a flat start object (amplitude
constant, phase 0) for the same number of passes: the difference is the network's warm start.
"""
from __future__ import annotations

import time
from pathlib import Path

from .common import loadavg, log

#: refinement passes measured at each stage (network start and flat start)
REFINE_EPOCHS = 10


def _frc(m: dict, part: str):
    frc = (m.get(part) or {}).get("frc")
    if isinstance(frc, dict):
        for key in ("resolution_px", "resolution", "period_px", "value"):
            if key in frc:
                return frc[key]
        return {k: v for k, v in frc.items() if not isinstance(v, list)}
    return frc


def run(quick: bool, data_dir: Path, work_dir: Path) -> dict:
    from ptycho_engine import api
    from ptycho_engine.config.execution import PyTorchExecutionConfig

    from .datasets import lines_scans

    if quick:
        train, test = lines_scans(data_dir, n_train=160, n_test=96)
        n_groups, budgets_s = 16, [0.0, 1.0]  # 1 epoch, then one more
    else:
        train, test = lines_scans(data_dir, n_train=600, n_test=300)
        n_groups, budgets_s = 256, [60.0, 180.0, 360.0]
    out = work_dir / "quality_run"
    rows = []
    nepochs, train_s = 0, 0.0
    for i, budget in enumerate(budgets_s):
        # epochs for this wall-time budget, from the epoch time measured so far (load drifts)
        per_epoch = train_s / nepochs if nepochs else None
        target = nepochs + 1 if per_epoch is None else max(nepochs + 1, int(round(budget / per_epoch)))
        nepochs = target
        exe = PyTorchExecutionConfig(resume=i > 0, logger_backend="none")
        overrides = {"n_groups": n_groups, "nepochs": nepochs, "gridsize": 2, "batch_size": 16}
        payload = api.create_training_payload(train, out, overrides, execution_config=exe)
        t0 = time.perf_counter()
        res = api.train(payload)
        stage_s = time.perf_counter() - t0
        train_s = float(res.history[-1]["elapsed_s"]) if res.history else train_s + stage_s
        ipay = api.create_inference_payload(out, test, work_dir / f"quality_infer_{nepochs}")
        t1 = time.perf_counter()
        inf = api.infer(ipay)
        infer_s = time.perf_counter() - t1
        m = inf.metrics or {}
        row = {"epochs": nepochs, "budget_s": budget, "train_wall_s": round(train_s, 1), "infer_wall_s": round(infer_s, 1),
               "amp_ssim": (m.get("amplitude") or {}).get("ssim"), "phase_ssim": (m.get("phase") or {}).get("ssim"),
               "amp_frc": _frc(m, "amplitude"), "phase_frc": _frc(m, "phase"),
               "train_loss": res.history[-1].get("train_loss") if res.history else None,
               "val_loss": res.history[-1].get("val_loss") if res.history else None,
               "test_patterns": inf.n_patterns, "load1": loadavg()[0]}
        row.update(_refined(out, test, work_dir / f"quality_refined_{nepochs}", inf))
        rows.append(row)
        log(f"quality {nepochs} epochs: {train_s:.0f} s, amp SSIM {row['amp_ssim']}, phase SSIM {row['phase_ssim']}")
    return {"train_file": str(train), "test_file": str(test), "n_groups": n_groups, "rows": rows}


def _refined(model_dir: Path, test: Path, out: Path, network_run) -> dict:
    """Network + REFINE_EPOCHS refinement passes, and the same passes from a flat start."""
    import numpy as np

    from ptycho_engine import api
    from ptycho_engine.data.contract import load_scan
    from ptycho_engine.inference.compare import compare_with_reference
    from ptycho_engine.inference.refine import refine_object

    t0 = time.perf_counter()
    ref = api.infer(api.create_inference_payload(model_dir, test, out, {"refine_epochs": REFINE_EPOCHS}))
    refined_s = time.perf_counter() - t0
    m = ref.metrics or {}
    scan = load_scan(test)
    weight = network_run.weight
    flat = np.where(weight > 0, 0.5, 0).astype(np.complex64)
    used = np.arange(scan.n_patterns)
    positions = np.stack([scan.xcoords, scan.ycoords], axis=1)
    flat_run = refine_object(flat, network_run.origin_x, network_run.origin_y, scan.diffraction, used, positions,
                             scan.probe, epochs=REFINE_EPOCHS)
    fm, _, _ = compare_with_reference(flat_run.object, weight, network_run.origin_x, network_run.origin_y,
                                      scan.object_guess)
    fm = fm or {}
    return {"refine_epochs": REFINE_EPOCHS, "refined_infer_wall_s": round(refined_s, 1),
            "refined_amp_ssim": m.get("amplitude_ssim"), "refined_phase_ssim": m.get("phase_ssim"),
            "flat_refined_amp_ssim": fm.get("amplitude_ssim"), "flat_refined_phase_ssim": fm.get("phase_ssim")}

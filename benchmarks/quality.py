"""Reconstruction quality against training time on simulated 'lines' scans (N=64, gridsize 2,
nphotons 1e6).

One training run is continued in stages (resume from ``checkpoints/last.ckpt``) to cumulative
wall-time budgets (1, 3, 6 min in the full run: the epochs for each budget are computed from the
epoch time measured so far, because the load of the shared machine drifts); after each stage the archive reconstructs a SEPARATE simulated scan of the same
kind (different seed -> different object) with ``run_inference``, whose metrics (aligned
amplitude/phase SSIM, FRC resolution) come from ``metrics.evaluate_reconstruction`` via
``inference.compare_with_reference``. Wall time = the run's cumulative training time.
"""
from __future__ import annotations

import time
from pathlib import Path

from .common import loadavg, log


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
        rows.append(row)
        log(f"quality {nepochs} epochs: {train_s:.0f} s, amp SSIM {row['amp_ssim']}, phase SSIM {row['phase_ssim']}")
    return {"train_file": str(train), "test_file": str(test), "n_groups": n_groups, "rows": rows}

"""Reconstruction quality against training time on simulated 'lines' scans (N=64, gridsize 2,
nphotons 1e6).

One training run is continued in stages (resume from ``checkpoints/last.ckpt``) to cumulative
epoch budgets; after each stage the archive reconstructs a SEPARATE simulated scan of the same
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

    if quick:
        train, test = data_dir / "q_train.npz", data_dir / "q_test.npz"
        from .datasets import lines_scans

        train, test = lines_scans(data_dir, n_train=160, n_test=96)
        n_groups, budgets = 16, [1, 2]
    else:
        from .datasets import lines_scans

        train, test = lines_scans(data_dir, n_train=600, n_test=300)
        n_groups, budgets = 96, [1, 3, 6]
    out = work_dir / "quality_run"
    rows = []
    for i, nepochs in enumerate(budgets):
        exe = PyTorchExecutionConfig(resume=i > 0, logger_backend="none")
        overrides = {"n_groups": n_groups, "nepochs": nepochs, "gridsize": 2, "batch_size": 16}
        payload = api.create_training_payload(train, out, overrides, execution_config=exe)
        t0 = time.perf_counter()
        res = api.train(payload)
        stage_s = time.perf_counter() - t0
        train_s = float(res.history[-1]["elapsed_s"]) if res.history else stage_s
        ipay = api.create_inference_payload(out, test, work_dir / f"quality_infer_{nepochs}")
        t1 = time.perf_counter()
        inf = api.infer(ipay)
        infer_s = time.perf_counter() - t1
        m = inf.metrics or {}
        row = {"epochs": nepochs, "train_wall_s": round(train_s, 1), "infer_wall_s": round(infer_s, 1),
               "amp_ssim": (m.get("amplitude") or {}).get("ssim"), "phase_ssim": (m.get("phase") or {}).get("ssim"),
               "amp_frc": _frc(m, "amplitude"), "phase_frc": _frc(m, "phase"),
               "train_loss": res.history[-1].get("train_loss") if res.history else None,
               "val_loss": res.history[-1].get("val_loss") if res.history else None,
               "test_patterns": inf.n_patterns, "load1": loadavg()[0]}
        rows.append(row)
        log(f"quality {nepochs} epochs: {train_s:.0f} s, amp SSIM {row['amp_ssim']}, phase SSIM {row['phase_ssim']}")
    return {"train_file": str(train), "test_file": str(test), "n_groups": n_groups, "rows": rows}

"""Reconstruction quality against training time on simulated 'lines' scans (N=64, gridsize 2,
nphotons 1e6).

Full run: the bundled demo scans (``resources/demo_lines.npz`` for training, 700 patterns;
``resources/demo_lines_test.npz``, a SEPARATE scan of a different object, for reconstruction) and
the demo preset's settings (the best CPU configuration the convergence sweep found), trained from
scratch once per wall-time budget (2, 5, 10 min) so each run has its own full cosine schedule; the
epochs for the longer budgets come from the epoch time of the first run. Quick run: tiny scans,
one epoch. After each run ``run_inference`` reconstructs the test scan; its metrics (aligned
amplitude/phase SSIM, FRC resolution) come from ``metrics.evaluate_reconstruction`` via
``inference.compare_with_reference``. Wall time = the run's training time.

Each run also reconstructs with physics refinement (``refine_epochs`` = REFINE_EPOCHS) and, as the
control that shows what the network contributes, refines a flat start object (amplitude constant,
phase 0) for the same number of passes: the difference is the network's warm start.
"""
from __future__ import annotations

import time
from pathlib import Path

from .common import loadavg, log

#: refinement passes measured after each run (network start and flat start)
REFINE_EPOCHS = 20
#: wall-time budgets of the full run (s); the first uses the preset's own epoch count
BUDGETS_S = (120.0, 300.0, 600.0)


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
        settings = {"n_groups": 16, "nepochs": 1, "gridsize": 2, "batch_size": 16}
        budgets_s: tuple[float | None, ...] = (None,)
    else:
        train, test = api.demo_dataset_path(), api.demo_test_dataset_path()
        settings = api.read_settings_file(api.demo_preset_path())
        budgets_s = BUDGETS_S
    rows, per_epoch = [], None
    for budget in budgets_s:
        nepochs = int(settings["nepochs"]) if per_epoch is None else max(1, int(budget // per_epoch))
        exec_names = {"learning_rate", "scheduler"}
        overrides = {k: v for k, v in settings.items() if k not in exec_names}
        overrides["nepochs"] = nepochs
        exe = PyTorchExecutionConfig(logger_backend="none", **{k: settings[k] for k in exec_names & set(settings)})
        out = work_dir / f"quality_run_{nepochs}"
        payload = api.create_training_payload(train, out, overrides, execution_config=exe)
        t0 = time.perf_counter()
        res = api.train(payload)
        stage_s = time.perf_counter() - t0
        train_s = float(res.history[-1]["elapsed_s"]) if res.history else stage_s
        per_epoch = train_s / nepochs
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
        log(f"quality {nepochs} epochs: {train_s:.0f} s, amp SSIM {row['amp_ssim']}, phase SSIM {row['phase_ssim']}; "
            f"refined {row['refined_amp_ssim']}, {row['refined_phase_ssim']}")
    return {"train_file": str(train), "test_file": str(test), "settings": settings, "rows": rows}


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

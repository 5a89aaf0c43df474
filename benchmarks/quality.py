"""Reconstruction quality of the network alone on scans it never trained on (N=64, gridsize 2).

Full run. Training scans: the bundled demo scan (lines object, disk probe, 1e6 photons, 700
patterns) and a scan with a focused, aberrated probe (lines, 1e6, seed 41). Test scans, each a
NEW object (other seeds), simulated here and cached in the data folder:

* ``dense``     - resources/demo_lines_test.npz (lines, disk probe, 1e6 photons)
* ``cells``     - another object family (Voronoi cells), disk probe, 1e6 photons
* ``low_dose``  - lines, disk probe, 1e4 photons per pattern
* ``focused``   - lines through the focused training scan's probe, 1e6 photons

Variants, each trained from scratch (or fine-tuned) on the training scan of its probe:

* ``cnn``           - the reference CNN alone, the old demo preset (16 epochs)
* ``unrolled_0``    - the unrolled generator with its initial weights (0 steps): the control that
                      shows what the physics layers do without any learning
* ``unrolled``      - the unrolled generator, the new demo preset
* ``unrolled_ft``   - the unrolled generator fine-tuned from the shipped pretrained model
                      (``init_model = "shipped"``), FINETUNE_EPOCHS epochs

Every row is the network's own reconstruction (no refinement), stitched with phase
synchronisation, scored after registration and phase-offset/ramp removal (metrics package). For
the dense test scan it also refines the network's object and a flat start for REFINE_EPOCHS passes
(the refinement control). Quick run: tiny scans, one epoch each, to check the code path.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .common import loadavg, log

#: refinement passes measured for the dense test scan (network start and flat start)
REFINE_EPOCHS = 20
FINETUNE_EPOCHS = 2
#: the old demo preset's epochs for the reference CNN (about 2 CPU minutes)
CNN_EPOCHS = 16
#: test scans: name -> simulate_scan arguments (probe 'train' = the focused training scan's probe)
TEST_SPECS: dict[str, dict[str, Any]] = {
    "cells": dict(object_kind="cells", probe_kind="disk", scan_kind="fermat", N=64, n_positions=256,
                  object_size=160, nphotons=1e6, seed=18, phase="independent"),
    "low_dose": dict(object_kind="lines", probe_kind="disk", scan_kind="fermat", N=64, n_positions=256,
                     object_size=160, nphotons=1e4, seed=28, phase="independent"),
    "focused": dict(object_kind="lines", scan_kind="fermat", N=64, n_positions=256, object_size=160,
                    nphotons=1e6, seed=42, phase="independent"),
}
FOCUSED_TRAIN = dict(object_kind="lines", probe_kind="focused", scan_kind="fermat", N=64, n_positions=700,
                     object_size=240, nphotons=1e6, seed=41, phase="independent")


def _scans(data_dir: Path, quick: bool) -> dict[str, Path]:
    """Cached training and test scans (simulated once, deterministic)."""
    from ptycho_engine import api
    from ptycho_engine.data.contract import load_scan, save_scan
    from ptycho_engine.simulate import simulate_scan

    data_dir.mkdir(parents=True, exist_ok=True)
    shrink = dict(n_positions=96, object_size=128) if quick else {}
    tag = "quick" if quick else "full"
    paths: dict[str, Path] = {}

    def cached(name: str, spec: dict[str, Any], **extra: Any) -> Path:
        p = data_dir / f"quality_{tag}_{name}.npz"
        if not p.is_file():
            save_scan(p, simulate_scan(**{**spec, **shrink}, **extra))
        return p

    paths["train_disk"] = cached("train_disk", dict(object_kind="lines", probe_kind="disk", scan_kind="fermat", N=64,
                                                    n_positions=700, object_size=240, nphotons=1e6, seed=7,
                                                    phase="independent")) if quick else api.demo_dataset_path()
    paths["train_focused"] = cached("train_focused", FOCUSED_TRAIN)
    paths["dense"] = cached("dense", dict(object_kind="lines", probe_kind="disk", scan_kind="fermat", N=64,
                                          n_positions=256, object_size=160, nphotons=1e6, seed=8,
                                          phase="independent")) if quick else api.demo_test_dataset_path()
    focused_probe = load_scan(paths["train_focused"]).probe
    for name, spec in TEST_SPECS.items():
        paths[name] = cached(name, spec, probe=focused_probe) if name == "focused" else cached(name, spec)
    return paths


def _train(variant: str, train: Path, out: Path, settings: dict[str, Any], quick: bool) -> tuple[Path, float]:
    """Train one variant; returns (run folder, training seconds)."""
    from ptycho_engine import api
    from ptycho_engine.config.execution import PyTorchExecutionConfig
    from ptycho_engine.events import CancelToken

    exec_names = {"learning_rate", "scheduler"}
    overrides = {k: v for k, v in settings.items() if k not in exec_names}
    exe = PyTorchExecutionConfig(logger_backend="none", enable_checkpointing=False,
                                 **{k: settings[k] for k in exec_names & set(settings)})
    cancel = None
    if variant == "cnn":
        overrides.update(generator="cnn", nepochs=1 if quick else CNN_EPOCHS)
    elif variant == "unrolled_0":
        overrides.update(generator="unrolled", nepochs=1)
        cancel = CancelToken()
        cancel.cancel()  # stops before the first batch: the archive holds the initial weights
    elif variant == "unrolled_ft":
        overrides.update(generator="unrolled", init_model="shipped", nepochs=1 if quick else FINETUNE_EPOCHS)
    else:
        overrides.update(generator="unrolled")
        if quick:
            overrides["nepochs"] = 1
    t0 = time.perf_counter()
    res = api.train(api.create_training_payload(train, out, overrides, execution_config=exe), cancel=cancel)
    train_s = float(res.history[-1]["elapsed_s"]) if res.history else 0.0
    log(f"quality: {variant} on {train.name}: {len(res.history)} epoch(s), {train_s:.0f} s "
        f"({time.perf_counter() - t0:.0f} s wall)")
    return out, train_s


def _score(model_dir: Path, test: Path, out: Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    from ptycho_engine import api

    t0 = time.perf_counter()
    inf = api.infer(api.create_inference_payload(model_dir, test, out, overrides or {}))
    m = inf.metrics or {}
    return {"amp_ssim": (m.get("amplitude") or {}).get("ssim"), "phase_ssim": (m.get("phase") or {}).get("ssim"),
            "infer_wall_s": round(time.perf_counter() - t0, 1), "result": inf}


def _flat_refined(test: Path, network_run: Any) -> dict[str, Any]:
    """REFINE_EPOCHS refinement passes from a flat object (the control for the network's start)."""
    import numpy as np

    from ptycho_engine.data.contract import load_scan
    from ptycho_engine.inference.compare import compare_with_reference
    from ptycho_engine.inference.refine import refine_object

    scan = load_scan(test)
    weight = network_run.weight
    flat = np.where(weight > 0, 0.5, 0).astype(np.complex64)
    positions = np.stack([scan.xcoords, scan.ycoords], axis=1)
    run = refine_object(flat, network_run.origin_x, network_run.origin_y, scan.diffraction,
                        np.arange(scan.n_patterns), positions, scan.probe, epochs=REFINE_EPOCHS)
    fm, _, _ = compare_with_reference(run.object, weight, network_run.origin_x, network_run.origin_y,
                                      scan.object_guess)
    fm = fm or {}
    return {"flat_refined_amp_ssim": fm.get("amplitude_ssim"), "flat_refined_phase_ssim": fm.get("phase_ssim")}


def run(quick: bool, data_dir: Path, work_dir: Path) -> dict:
    from ptycho_engine import api
    from ptycho_engine.config.init_model import shipped_model_path

    scans = _scans(Path(data_dir), quick)
    settings = api.read_settings_file(api.demo_preset_path())
    if quick:
        settings.update(n_groups=16, batch_size=16)
    tests_of = {"train_disk": ("dense", "cells", "low_dose"), "train_focused": ("focused",)}
    variants = ["cnn", "unrolled_0", "unrolled"] + (["unrolled_ft"] if shipped_model_path().is_file() else [])
    rows = []
    for train_key, tests in tests_of.items():
        for variant in variants:
            run_dir, train_s = _train(variant, scans[train_key], work_dir / f"q_{train_key}_{variant}", settings, quick)
            for test in tests:
                s = _score(run_dir, scans[test], work_dir / f"q_{train_key}_{variant}_{test}")
                row = {"test": test, "variant": variant, "train_scan": scans[train_key].name,
                       "train_s": round(train_s, 1), "amp_ssim": s["amp_ssim"], "phase_ssim": s["phase_ssim"],
                       "infer_wall_s": s["infer_wall_s"], "load1": loadavg()[0]}
                if test == "dense" and variant in ("cnn", "unrolled"):
                    nosync = _score(run_dir, scans[test], work_dir / f"q_{variant}_nosync", {"phase_sync_passes": 0})
                    row.update(nosync_amp_ssim=nosync["amp_ssim"], nosync_phase_ssim=nosync["phase_ssim"])
                    r = _score(run_dir, scans[test], work_dir / f"q_{variant}_refined", {"refine_epochs": REFINE_EPOCHS})
                    m = r["result"].metrics or {}
                    row.update(refine_epochs=REFINE_EPOCHS, refined_amp_ssim=m.get("amplitude_ssim"),
                               refined_phase_ssim=m.get("phase_ssim"), **_flat_refined(scans[test], s["result"]))
                rows.append(row)
                log(f"quality: {variant} -> {test}: amp {row['amp_ssim']}, phase {row['phase_ssim']}")
    if not shipped_model_path().is_file():
        log("quality: no shipped model in resources/pretrained, the fine-tuning rows are skipped")
    return {"settings": settings, "scans": {k: str(v) for k, v in scans.items()}, "rows": rows}

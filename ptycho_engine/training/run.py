"""``train_model(payload)``: the whole training run, from the resolved payload to ``wts.h5.zip``.

Order: check the output directory is writable -> load, check and group every training scan (and
the validation scan, if given) -> seeded split per scan -> input and count scales per scan ->
model (weights from ``init_model`` if given; gain calibrated unless resuming) -> the shared fit
stage (config.json, Lightning fit with events, cancel, checkpoints, history, then the archive).
A cancelled run still writes a valid archive of the current weights (status 'cancelled').
Several scans are mixed as :mod:`.scans` explains; one scan takes exactly the one-scan path.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..events import CancelToken, EventCallback, LogLine, ignore_events
from .runtime import (  # noqa: F401 - re-exported: the inference run and benchmarks import them here
    ARCHIVE_NAME,
    TrainResult,
    archive_config,
    config_dict,
    ensure_writable,
    explicitly_set,
    quiet_lightning,
    resume_state,
    run_in_folder,
    set_cpu_threads,
)


def check_config(cfg: Any) -> None:
    """Refuse what the PINN trainer does not implement, before any data is read."""
    if cfg.model.model_type != "pinn":
        raise ValueError(f"model_type {cfg.model.model_type!r} is not supported by the trainer yet; use 'pinn'")
    if getattr(cfg, "realspace_mae_weight", 0) > 0:
        raise ValueError("realspace_mae_weight > 0 (supervised real-space MAE) is not supported by the "
                         "PINN trainer yet; set it to 0")


def check_scan(cfg: Any, scan: Any) -> None:
    """A scan's pattern size must be the configured N."""
    if scan.N != cfg.model.N:
        raise ValueError(f"N = {cfg.model.N} in the configuration but the diffraction patterns of "
                         f"{scan.path} are {scan.N} x {scan.N}")


def train_model(payload: Any, on_event: EventCallback = ignore_events,
                cancel: CancelToken | None = None) -> TrainResult:
    """Train a PtychoPINN as ``payload`` says; see the module docstring.

    Every run ends with one RunFinished event: 'completed', 'cancelled', or 'failed' (then the
    exception is re-raised for the caller to show).
    """
    out = getattr(getattr(payload, "tf_training_config", None), "output_dir", "")
    if getattr(payload.tf_training_config, "backend", "pytorch") == "tensorflow":  # issue 14
        from ..tf_backend.train import train_tf

        return run_in_folder(out, "training", on_event, lambda: train_tf(payload, on_event, cancel))
    return run_in_folder(out, "training", on_event, lambda: _train(payload, on_event, cancel))


def _train(payload: Any, on_event: EventCallback, cancel: CancelToken | None) -> TrainResult:
    import lightning as L

    from ..config.execution import PyTorchExecutionConfig
    from ..data.cache import open_scan
    from ..model.pinn import PtychoPINN
    from .data import make_loader, wants_pinned_memory
    from .fit import FitJob, fit_and_save, loss_weights
    from .init_model import start_and_calibrate
    from .preview import make_preview_fn, preview_groups
    from .scans import compute_scales, describe, pixel_masks, prepare_scans, raw_bank
    from .trainer import check_strategy

    cfg = payload.tf_training_config
    exe = payload.execution_config or PyTorchExecutionConfig()
    out = Path(cfg.output_dir)
    t0 = time.monotonic()
    check_strategy(exe.strategy, exe.devices)
    ensure_writable(out)
    n_threads = set_cpu_threads()
    quiet_lightning()
    check_config(cfg)
    state = resume_state(out, exe)
    weights = loss_weights(cfg)

    L.seed_everything(int(cfg.seed), workers=True, verbose=False)
    # every file is validated by the data contract (memory-mapped when larger than ~1 GiB)
    scans = prepare_scans(cfg, open_scan, explicitly_set(payload, "nphotons"), check=check_scan)
    if scans.mixed and cfg.probe_trainable:
        raise ValueError("probe_trainable is not supported when training on several scans or with a validation "
                         "scan (each scan keeps its own probe); set probe_trainable to false")
    compute_scales(scans)
    first = scans.first
    for note in scans.notes:
        on_event(LogLine(note, level="WARNING"))
    if scans.mixed:
        for line in describe(scans):
            on_event(LogLine(line))
        val_what = f"validation scan {scans.validation.name}" if scans.validation is not None else "validation"
        on_event(LogLine(f"{len(scans.scans)} training scan(s), N={first.scan.N}, groups of C={cfg.model.gridsize ** 2}: "
                         f"{scans.n_train()} train / {scans.n_val()} {val_what}; {n_threads} CPU threads"))
    else:
        on_event(LogLine(f"{first.scan.n_patterns} patterns, N={first.scan.N}, {first.grouped.n_groups} groups of "
                         f"C={cfg.model.gridsize ** 2}: {len(first.train_ids)} train / {len(first.val_ids)} "
                         f"validation; {n_threads} CPU threads"))

    model = PtychoPINN.from_config(cfg.model, cfg, first.scan.probe, input_scale=first.input_scale,
                                   counts_scale=first.counts_scale)
    if state.resume:
        bank = raw_bank(scans)  # the checkpoint brings the calibrated bank and gain
    else:
        bank = start_and_calibrate(model, cfg, scans, on_event)

    batch_size = int(cfg.batch_size)
    pin = wants_pinned_memory(str(exe.accelerator))
    train_ds, val_ds = scans.train_dataset(), scans.val_dataset()
    train_loader = make_loader(train_ds, batch_size, not cfg.sequential_sampling, exe.num_workers, cfg.seed, pin)
    val_loader = make_loader(val_ds, batch_size, False, exe.num_workers, cfg.seed, pin) if val_ds is not None else None
    preview_ids = preview_groups(first.grouped, first.val_ids if len(first.val_ids) else first.train_ids)
    preview_fn = make_preview_fn(first.grouped, preview_ids, int(exe.inference_batch_size or batch_size))
    extras: dict[str, Any] = {}
    if scans.mixed:
        extras = {"scan_input_scales": [s.input_scale for s in scans.bank],
                  "scan_counts_scales": [s.counts_scale for s in scans.bank],
                  "scan_nphotons": [s.nphotons for s in scans.bank]}
    # the first scan's physical geometry (pixel size, energy, ...; data.geometry), when it has one
    extras.update({f"geometry_{key}": value for key, value in first.scan.geometry.items()})
    job = FitJob(model=model, weights=weights, train_loader=train_loader, val_loader=val_loader,
                 preview_fn=preview_fn, scan_probes=bank, nphotons=first.nphotons, archive_extras=extras,
                 pixel_masks=pixel_masks(scans.bank))
    return fit_and_save(payload, job, on_event, cancel, state, t0)

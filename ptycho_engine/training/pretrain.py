"""``pretrain_model(payload)``: train on synthetic objects simulated through the user's probe.

The probe, N and the photon count come from one scan (``train_data_file`` of the payload; nphotons
from its metadata unless set), the scan step from its positions (median nearest-neighbour
distance) unless ``step`` is set. The data come from :mod:`.synthetic` (new objects every epoch,
bounded memory, deterministic per seed and epoch, so ``resume`` sees the stream it would have
seen). Validation: a fixed set of reference objects (``validation_fraction`` of ``n_objects``, at
least one) or the scan named by ``validation_data_file``. The run folder is a normal training
run (``wts.h5.zip``, history, checkpoints), so ``infer`` and fine-tuning (``init_model``) use it.
"""
from __future__ import annotations

import math
import time
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch

from ..events import CancelToken, EventCallback, LogLine, ignore_events
from .runtime import (TrainResult, ensure_writable, explicitly_set, quiet_lightning, resume_state, run_in_folder,
                      set_cpu_threads)

# the stream's length is exact: it runs in the main process (no workers to split it)
warnings.filterwarnings("ignore", message=r".*Your `IterableDataset` has `__len__` defined.*")


class EpochStream(L.Callback):
    """Tells the synthetic stream which epoch starts, so each epoch (also after a resume) gets its
    own objects."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.stream.set_epoch(trainer.current_epoch)


def pretrain_model(payload: Any, on_event: EventCallback = ignore_events,
                   cancel: CancelToken | None = None) -> TrainResult:
    """Pretrain as ``payload`` (a PretrainingPayload) says; ends with one RunFinished event, like
    :func:`.run.train_model` (a failure is re-raised after its 'failed' event)."""
    out = getattr(getattr(getattr(payload, "training", None), "tf_training_config", None), "output_dir", "")
    return run_in_folder(out, "pretraining", on_event, lambda: _pretrain(payload, on_event, cancel))


def _pretrain(payload: Any, on_event: EventCallback, cancel: CancelToken | None) -> TrainResult:
    from ..config.execution import PyTorchExecutionConfig
    from ..data.cache import open_scan
    from ..model.pinn import PtychoPINN
    from .data import make_loader, wants_pinned_memory
    from .fit import FitJob, fit_and_save, loss_weights
    from .init_model import load_initial_weights
    from .preview import make_preview_fn
    from .run import check_config, check_scan
    from .synthetic import (ReferenceSet, SyntheticGroupStream, SyntheticSetup, check_setup, default_object_size,
                            estimate_step, normalised)
    from .trainer import check_strategy

    training, spec = payload.training, payload.synthetic
    cfg = training.tf_training_config
    exe = training.execution_config or PyTorchExecutionConfig()
    out = Path(cfg.output_dir)
    t0 = time.monotonic()
    check_strategy(exe.strategy, exe.devices)
    ensure_writable(out)
    n_threads = set_cpu_threads()
    quiet_lightning()
    check_config(cfg)
    if int(exe.devices) > 1:
        raise ValueError(f"pretraining runs on one device (devices={exe.devices}): its synthetic stream is not split "
                         "between devices, so each would train on the same objects; set devices to 1")
    if cfg.probe_trainable:
        raise ValueError("probe_trainable does not apply to pretraining: the synthetic data are simulated with the "
                         "scan's probe, which stays fixed; set probe_trainable to false")
    state = resume_state(out, exe)
    weights = loss_weights(cfg)

    L.seed_everything(int(cfg.seed), workers=True, verbose=False)
    scan = open_scan(Path(cfg.train_data_file))
    check_scan(cfg, scan)
    step = float(spec.step) if spec.step is not None else estimate_step(scan.positions)
    step_from = "set" if spec.step is not None else "the scan's median nearest-neighbour distance"
    if (getattr(training, "overrides_applied", {}).get("nphotons") or {}).get("source") not in (
            "data_file", "override", "execution_config"):
        on_event(LogLine(f"{scan.path} has no nphotons in its metadata; simulating {cfg.nphotons:g} photons per "
                         "pattern (set nphotons to your scans' value)", level="WARNING"))
    setup = SyntheticSetup(probe=np.asarray(scan.probe, dtype=np.complex64), N=scan.N, nphotons=float(cfg.nphotons),
                           step=step, object_size=int(spec.object_size or default_object_size(scan.N)),
                           kinds=spec.kinds, groups_per_object=int(spec.groups_per_object),
                           gridsize=int(cfg.model.gridsize), neighbor_count=int(cfg.neighbor_count), seed=int(cfg.seed))
    n_positions = check_setup(setup)
    fraction = float(cfg.validation_fraction)
    n_reference = max(1, math.ceil(fraction * spec.n_objects))
    reference = ReferenceSet(setup, n_reference)
    stream = SyntheticGroupStream(setup, reference.input_scale, spec.n_objects, spec.shuffle_objects)
    val_scan = _validation_scan(cfg, scan, reference, open_scan, explicitly_set(training, "nphotons"))
    on_event(LogLine(f"pretraining on synthetic objects through the probe of {scan.path.name if scan.path else 'the scan'}"
                     f": N={setup.N}, nphotons {setup.nphotons:g}, step {step:.3g} px ({step_from}), "
                     f"{setup.object_size} px objects ({', '.join(setup.kinds)}) of {n_positions} positions; "
                     f"{spec.n_objects} objects x {setup.groups_per_object} groups per epoch; validation on "
                     + (f"the scan {val_scan.path.name}" if val_scan is not None else
                        f"{n_reference} fixed synthetic object(s)" if fraction > 0 else "nothing")
                     + f"; {n_threads} CPU threads"))
    if exe.num_workers:
        on_event(LogLine("pretraining simulates its objects in the main process; num_workers is not used",
                         level="WARNING"))

    model = PtychoPINN.from_config(cfg.model, cfg, scan.probe, input_scale=reference.input_scale,
                                   counts_scale=reference.counts_scale)
    bank = None
    if val_scan is not None:
        bank = torch.stack([torch.as_tensor(setup.probe), torch.as_tensor(np.asarray(val_scan.scan.probe,
                                                                                      dtype=np.complex64))])
    if not state.resume:
        start = load_initial_weights(model, getattr(cfg, "init_model", None))
        if start is not None:
            on_event(LogLine(f"starting from the network weights of {start}"))
        g0, bank = _calibrate(model, reference, val_scan, bank)
        on_event(LogLine(f"reference input scale {reference.input_scale:.4g}, counts scale s² "
                         f"{reference.counts_scale:.4g}, initial gain exp({g0:.3f})"))

    batch_size = int(cfg.batch_size)
    pin = wants_pinned_memory(str(exe.accelerator))
    train_loader = make_loader(stream, batch_size, False, 0, cfg.seed, pin)
    val_ds = val_scan.dataset if val_scan is not None else (reference if fraction > 0 else None)
    val_loader = make_loader(val_ds, batch_size, False, 0, cfg.seed, pin) if val_ds is not None else None
    preview_grouped = normalised(reference.objects[0], reference.input_scale)
    preview_fn = make_preview_fn(preview_grouped, np.arange(preview_grouped.n_groups),
                                 int(exe.inference_batch_size or batch_size))
    record = {"probe_from": str(scan.path), "n_objects": spec.n_objects, "groups_per_object": setup.groups_per_object,
              "object_size": setup.object_size, "step": step, "object_kinds": list(setup.kinds),
              "shuffle_objects": spec.shuffle_objects, "nphotons": setup.nphotons,
              "reference_objects": n_reference}
    job = FitJob(model=model, weights=weights, train_loader=train_loader, val_loader=val_loader,
                 preview_fn=preview_fn, scan_probes=bank, nphotons=setup.nphotons, callbacks=[EpochStream(stream)],
                 config_extra={"synthetic_pretraining": record},
                 archive_training_extra={"synthetic_pretraining": record})
    return fit_and_save(training, job, on_event, cancel, state, t0)


class _ValidationScan:
    """A real scan validating a pretraining run, in reference units, with its own probe (bank entry 1)."""

    def __init__(self, scan: Any, dataset: Any, calibration: list[torch.Tensor]) -> None:
        self.scan, self.dataset, self.calibration = scan, dataset, calibration
        self.path = Path(scan.path) if scan.path is not None else Path("validation scan")


def _validation_scan(cfg: Any, probe_scan: Any, reference: Any, open_scan: Any, explicit: bool) -> _ValidationScan | None:
    from ..data.scan_set import ScanGeometry, check_compatible
    from ..model.pinn import counts_scale_from_data, input_scale_from_data
    from .data import GroupDataset, build_groups
    from .run import check_scan
    from .scans import CALIBRATION_ITEMS, ScanGroupDataset, _groups_cfg, scan_nphotons

    path = getattr(cfg, "validation_data_file", None)
    if path is None:
        return None
    scan = open_scan(Path(path))
    check_compatible(ScanGeometry(Path(cfg.train_data_file), probe_scan.N, tuple(probe_scan.probe.shape)),
                     ScanGeometry(Path(path), scan.N, tuple(scan.probe.shape)))
    check_scan(cfg, scan)
    grouped = build_groups(scan, _groups_cfg(cfg, scan.n_patterns))
    ids = np.arange(grouped.n_groups, dtype=np.int64)
    used = GroupDataset(grouped, ids).pattern_indices()
    a_v = input_scale_from_data(scan.diffraction, scan.N, indices=used)
    c_v = counts_scale_from_data(scan.diffraction, scan_nphotons(scan, 1, cfg.nphotons, explicit), indices=used)
    factor = a_v / reference.input_scale
    ds = ScanGroupDataset(grouped, ids, 1, factor, c_v / factor ** 2)
    calibration = torch.utils.data.default_collate([ds[i] for i in range(min(len(ds), CALIBRATION_ITEMS))])
    return _ValidationScan(scan, ds, calibration)


@torch.no_grad()
def _calibrate(model: Any, reference: Any, val_scan: _ValidationScan | None,
               bank: torch.Tensor | None) -> tuple[float, torch.Tensor | None]:
    """Gain from the reference objects (the model's log_gain); a validation scan's bank entry is
    scaled by its own calibrated gain over that one (see ``training.scans``)."""
    g_v = None
    if val_scan is not None and bank is not None:
        x, rel = val_scan.calibration[0], val_scan.calibration[1]
        g_v = model.calibrate_gain(x, rel, bank[1].expand(x.shape[0], -1, -1))
    from .scans import CALIBRATION_ITEMS

    calib = torch.utils.data.default_collate([reference[i] for i in range(min(len(reference), CALIBRATION_ITEMS))])
    g0 = model.calibrate_gain(calib[0], calib[1])
    if g_v is not None and bank is not None:
        bank = torch.stack([bank[0], bank[1] * float(np.exp(g_v - g0))])
    return g0, bank

"""``train_model(payload)``: the whole training run, from the resolved payload to ``wts.h5.zip``.

Order: check the output directory is writable -> load + group the scan -> seeded split -> input
and count scales from the training patterns -> model (gain calibrated on the first batch unless
resuming) -> config.json -> Lightning fit (events, cancel, checkpoints, history) -> archive.
A cancelled run still writes a valid archive of the current weights (status 'cancelled').
"""
from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..events import CancelledError, CancelToken, EventCallback, LogLine, RunFinished, ignore_events

ARCHIVE_NAME = "wts.h5.zip"


@dataclass
class TrainResult:
    status: str  # 'completed' | 'cancelled'
    output_dir: Path
    archive_path: Path
    history: list[dict[str, Any]] = field(default_factory=list)


def ensure_writable(output_dir: Path) -> None:
    """Create ``output_dir`` and prove we can write there, before any expensive work."""
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        probe = output_dir / f".write-test-{uuid.uuid4().hex}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        raise PermissionError(f"Output directory is not writable: {output_dir} ({exc.strerror or exc})") from exc


def set_cpu_threads() -> int:
    """Use the cores this process may run on (affinity-aware; containers often allow fewer).

    An explicit ``OMP_NUM_THREADS`` wins, so a user or a test harness can keep the engine small.
    """
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        n = int(env)
    else:
        try:
            n = len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not on Linux
            n = os.cpu_count() or 1
    torch.set_num_threads(max(1, n))
    return n


def quiet_lightning() -> None:
    """Lightning's info chatter (GPU available, tips) goes to stderr; our events say it better.

    Only loggers nobody configured (level NOTSET) are raised to WARNING.
    """
    import logging

    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        log = logging.getLogger(name)
        if log.level == logging.NOTSET:
            log.setLevel(logging.WARNING)


def config_dict(payload: Any) -> tuple[dict[str, Any], str]:
    """The run's resolved configuration for config.json, and which serialiser produced it."""
    try:
        from ..config.factory import payload_to_dict

        return payload_to_dict(payload), "config.factory.payload_to_dict"
    except (ImportError, TypeError):  # not a factory payload (a script's own namespace)
        from ..config.canonical import config_to_dict

        out = {"training": config_to_dict(payload.tf_training_config)}
        if getattr(payload, "execution_config", None) is not None:
            out["execution"] = config_to_dict(payload.execution_config)
        out["overrides_applied"] = getattr(payload, "overrides_applied", {})
        return out, "training.run.config_dict (fallback)"


def archive_config(cfg: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """({"model", "training"} for config.json in the archive, legacy params snapshot)."""
    from ..config import params as legacy
    from ..config.canonical import config_to_dict

    training = config_to_dict(cfg)
    model = training.pop("model")
    snapshot = legacy.snapshot(legacy.update_legacy_dict(dict(legacy.DEFAULT_CFG), cfg))
    return {"model": model, "training": training}, snapshot


def _check_supported(cfg: Any, scan: Any) -> None:
    if cfg.model.model_type != "pinn":
        raise ValueError(f"model_type {cfg.model.model_type!r} is not supported by the trainer yet; use 'pinn'")
    if getattr(cfg, "realspace_mae_weight", 0) > 0:
        raise ValueError("realspace_mae_weight > 0 (supervised real-space MAE) is not supported by the "
                         "PINN trainer yet; set it to 0")
    if scan.N != cfg.model.N:
        raise ValueError(f"N = {cfg.model.N} in the configuration but the diffraction patterns of "
                         f"{scan.path} are {scan.N} x {scan.N}")


def train_model(payload: Any, on_event: EventCallback = ignore_events,
                cancel: CancelToken | None = None) -> TrainResult:
    """Train a PtychoPINN as ``payload`` says; see the module docstring.

    Every run ends with one RunFinished event: 'completed', 'cancelled', or 'failed' (then the
    exception is re-raised for the caller to show).
    """
    try:
        return _train(payload, on_event, cancel)
    except BaseException as exc:
        out = getattr(getattr(payload, "tf_training_config", None), "output_dir", "")
        on_event(RunFinished(status="failed", output_dir=str(out), message=f"{type(exc).__name__}: {exc}"))
        raise


def _train(payload: Any, on_event: EventCallback, cancel: CancelToken | None) -> TrainResult:
    import lightning as L

    from ..archive import save_archive
    from ..config.execution import PyTorchExecutionConfig
    from ..data.cache import open_scan
    from ..io.atomic import atomic_write_json
    from ..model.loss import LossWeights
    from ..model.pinn import PtychoPINN, counts_scale_from_data, input_scale_from_data
    from .callbacks import EventEmitter
    from .data import GroupDataset, build_groups, make_loader, split_groups, wants_pinned_memory
    from .module import PinnModule
    from .preview import make_preview_fn, preview_groups
    from .trainer import build_trainer, check_strategy, monitor_name

    cfg = payload.tf_training_config
    exe = payload.execution_config or PyTorchExecutionConfig()
    out = Path(cfg.output_dir)
    archive_path = out / ARCHIVE_NAME
    t0 = time.monotonic()
    check_strategy(exe.strategy, exe.devices)
    ensure_writable(out)
    n_threads = set_cpu_threads()
    quiet_lightning()

    scan = open_scan(Path(cfg.train_data_file))  # memory-mapped when larger than ~1 GiB
    _check_supported(cfg, scan)
    weights = LossWeights(mode=cfg.torch_loss_mode, nll_weight=cfg.nll_weight, mae_weight=cfg.mae_weight,
                          realspace_weight=cfg.realspace_weight)
    L.seed_everything(int(cfg.seed), workers=True, verbose=False)
    grouped = build_groups(scan, cfg)
    train_ids, val_ids = split_groups(grouped.n_groups, float(cfg.validation_fraction), int(cfg.seed))
    train_ds = GroupDataset(grouped, train_ids)
    val_ds = GroupDataset(grouped, val_ids) if len(val_ids) else None
    has_val = val_ds is not None
    on_event(LogLine(f"{scan.n_patterns} patterns, N={scan.N}, {grouped.n_groups} groups of "
                     f"C={cfg.model.gridsize ** 2}: {len(train_ids)} train / {len(val_ids)} validation; "
                     f"{n_threads} CPU threads"))

    used = train_ds.pattern_indices()  # sorted; statistics read in place, no copy of the patterns
    nphotons = float(cfg.nphotons)
    model = PtychoPINN.from_config(cfg.model, cfg, scan.probe,
                                   input_scale=input_scale_from_data(scan.diffraction, scan.N, indices=used),
                                   counts_scale=counts_scale_from_data(scan.diffraction, nphotons, indices=used))
    ckpt_path = out / "checkpoints" / "last.ckpt"
    resume = bool(getattr(exe, "resume", False))
    if resume and not ckpt_path.is_file():
        raise FileNotFoundError(f"resume requested but there is no checkpoint at {ckpt_path}")
    history: list[dict[str, Any]] = []
    if resume:
        import json

        hist_file = out / "history.json"
        if hist_file.is_file():
            history = json.loads(hist_file.read_text(encoding="utf-8"))
    else:
        calib = torch.utils.data.default_collate([train_ds[i] for i in range(min(len(train_ds), 64))])
        g0 = model.calibrate_gain(calib[0], calib[1])
        on_event(LogLine(f"input scale {float(model.input_scale):.4g}, counts scale s² {float(model.counts_scale):.4g} "
                         f"(nphotons {nphotons:g}), initial gain exp({g0:.3f})"))

    conf, serializer = config_dict(payload)
    atomic_write_json(out / "config.json", conf)
    on_event(LogLine(f"config.json written ({serializer})", level="DEBUG"))

    batch_size = int(cfg.batch_size)
    pin = wants_pinned_memory(str(exe.accelerator))
    train_loader = make_loader(train_ds, batch_size, not cfg.sequential_sampling, exe.num_workers, cfg.seed, pin)
    val_loader = make_loader(val_ds, batch_size, False, exe.num_workers, cfg.seed, pin) if has_val else None
    preview_ids = preview_groups(grouped, val_ids if has_val else train_ids)
    preview_fn = make_preview_fn(grouped, preview_ids, int(exe.inference_batch_size or batch_size))
    emitter = EventEmitter(on_event, out, int(cfg.nepochs), preview_fn=preview_fn,
                           preview_every=int(getattr(exe, "preview_every_n_epochs", 1)), history=history)
    module = PinnModule(model, weights, learning_rate=exe.learning_rate, scheduler=exe.scheduler,
                        nepochs=cfg.nepochs, plateau_monitor=monitor_name("val_loss", has_val), cancel=cancel)
    trainer, accelerator = build_trainer(exe, out, int(cfg.nepochs), [emitter], has_val, len(train_loader))

    status, message = "completed", ""
    try:
        trainer.fit(module, train_loader, val_loader, ckpt_path=str(ckpt_path) if resume else None)
    except CancelledError:
        status, message = "cancelled", "cancelled by user; the archive holds the weights at that moment"
    if status == "completed" and trainer.interrupted:
        status = "cancelled"
    if trainer.is_global_zero:
        a_cfg, params = archive_config(cfg)
        params["intensity_scale"] = model.gain
        save_archive(archive_path, model, a_cfg, params,
                     extras={"nphotons": nphotons, "epochs_completed": len(emitter.history)})
    elapsed = time.monotonic() - t0
    on_event(LogLine(f"training {status} after {len(emitter.history)} epoch(s) in {elapsed:.1f} s on {accelerator}; "
                     f"model saved to {archive_path}"))
    on_event(RunFinished(status=status, output_dir=str(out), message=message))
    return TrainResult(status=status, output_dir=out, archive_path=archive_path, history=list(emitter.history))

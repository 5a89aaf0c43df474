"""Run-level helpers shared by training and pretraining: the result type, output checks, threads,
the resolved configuration for config.json and the archive, and the resume state."""
from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

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


def explicitly_set(payload: Any, name: str) -> bool:
    """Whether the user set ``name`` (an override or the execution config), per the provenance."""
    entry = (getattr(payload, "overrides_applied", None) or {}).get(name) or {}
    return entry.get("source") in ("override", "execution_config")


@dataclass
class ResumeState:
    """Whether to resume, from which checkpoint, and the history rows of the epochs already done."""

    resume: bool
    ckpt_path: Path
    history: list[dict[str, Any]] = field(default_factory=list)


def resume_state(out: Path, exe: Any) -> ResumeState:
    """Checks ``resume`` early: FileNotFoundError when there is no checkpoint to resume from."""
    ckpt_path = out / "checkpoints" / "last.ckpt"
    resume = bool(getattr(exe, "resume", False))
    if resume and not ckpt_path.is_file():
        raise FileNotFoundError(f"resume requested but there is no checkpoint at {ckpt_path}")
    history: list[dict[str, Any]] = []
    if resume:
        hist_file = out / "history.json"
        if hist_file.is_file():
            history = json.loads(hist_file.read_text(encoding="utf-8"))
    return ResumeState(resume, ckpt_path, history)

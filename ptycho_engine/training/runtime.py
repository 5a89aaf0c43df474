"""Run-level helpers shared by training and pretraining: the result type, output checks, threads,
the resolved configuration for config.json and the archive, and the resume state."""
from __future__ import annotations

import contextlib
import json
import os
import uuid
import zipfile
from collections.abc import Iterator
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


@contextlib.contextmanager
def run_folder(output_dir: str | os.PathLike[str], what: str, on_event: Any = None) -> Iterator[None]:
    """Hold ``output_dir``'s run lock for the block (a second run there is refused, exit 2); a
    lock left by a dead run is taken over with a warning, and the hidden temp files that killed
    atomic writes left behind (``.<name>.*.tmp`` in the folder and its checkpoints) are deleted."""
    from ..events import LogLine
    from ..io.runlock import RunLock, clean_stale_temp_files

    out = Path(output_dir)
    ensure_writable(out)
    with RunLock(out, what) as lock:
        if lock.stale and on_event is not None:
            on_event(LogLine(f"taking over the lock of a run that is no longer running ({lock.stale})",
                             level="WARNING"))
        removed = clean_stale_temp_files(out, out / "checkpoints")
        if removed and on_event is not None:
            on_event(LogLine(f"removed {len(removed)} stale temporary file(s) of an interrupted run: "
                             f"{', '.join(p.name for p in removed[:5])}", level="WARNING"))
        yield


def run_in_folder(output_dir: str | os.PathLike[str], what: str, on_event: Any, body: Any) -> Any:
    """``body()`` inside :func:`run_folder`; any failure (the lock included) ends with one
    'failed' RunFinished event and is re-raised for the caller to show."""
    from ..events import RunFinished

    try:
        with run_folder(output_dir, what, on_event):
            return body()
    except BaseException as exc:
        on_event(RunFinished(status="failed", output_dir=str(output_dir), message=f"{type(exc).__name__}: {exc}"))
        raise


@dataclass
class ResumeState:
    """Whether to resume, from which checkpoint, and the history rows of the epochs already done."""

    resume: bool
    ckpt_path: Path
    history: list[dict[str, Any]] = field(default_factory=list)
    note: str | None = None  # said when resuming from another checkpoint than last.ckpt


def checkpoint_intact(path: Path) -> bool:
    """A torch checkpoint is a zip: intact when its directory reads and every member's CRC matches
    (reads the file once; unpickles nothing). A truncated or partly written file fails."""
    try:
        with zipfile.ZipFile(path) as zf:
            return zf.testzip() is None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError):
        return False
    except Exception:  # zlib.error
        return False


def resume_state(out: Path, exe: Any) -> ResumeState:
    """Checks ``resume`` early: FileNotFoundError when there is no intact checkpoint to resume from.

    ``last.ckpt`` when intact, else the newest intact other checkpoint (the note says which and why).
    """
    ckpt_dir = out / "checkpoints"
    ckpt_path = ckpt_dir / "last.ckpt"
    resume = bool(getattr(exe, "resume", False))
    note = None
    if resume:
        candidates = [ckpt_path] if ckpt_path.is_file() else []
        others = [p for p in ckpt_dir.glob("*.ckpt") if p.name != ckpt_path.name and p.is_file()] \
            if ckpt_dir.is_dir() else []
        candidates += sorted(others, key=lambda p: p.stat().st_mtime_ns, reverse=True)
        if not candidates:
            raise FileNotFoundError(f"resume requested but there is no checkpoint at {ckpt_path}")
        bad = []
        for cand in candidates:
            if checkpoint_intact(cand):
                break
            bad.append(cand.name)
        else:
            raise FileNotFoundError(f"resume requested but no checkpoint in {ckpt_dir} is intact "
                                    f"(damaged or truncated: {', '.join(bad)})")
        if cand != ckpt_path:
            why = "is damaged or truncated" if ckpt_path.is_file() else "is missing"
            note = f"{ckpt_path.name} {why}; resuming from the newest intact checkpoint {cand.name}"
        ckpt_path = cand
    history: list[dict[str, Any]] = []
    if resume:
        hist_file = out / "history.json"
        if hist_file.is_file():
            history = json.loads(hist_file.read_text(encoding="utf-8"))
    return ResumeState(resume, ckpt_path, history, note)

"""Where runs go and what a run folder says about itself (plain Python, no Qt).

Why here and not in the window: these rules decide which files a click may replace, so they are
tested without a window. Layout:

* Train makes ``<runs folder>/<YYYYmmdd-HHMMSS>-<scan>/`` unless the folder the user picked *is*
  a run (then that run is replaced, after a question naming what goes).
* Inference writes ``<model run>/reconstructions/<scan>-<YYYYmmdd-HHMMSS>/`` (a new folder every
  time, so nothing is replaced); a read-only model folder sends it under the runs folder instead.
* ``run_status.json`` records how the app's last run in a folder ended (completed / cancelled /
  failed), so a cancelled run says so in Open run and on the next launch.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

RUN_MARKERS = ("wts.h5.zip", "history.json")
INFERENCE_MARKERS = ("reconstruction.npz",)
STATUS_FILE = "run_status.json"
RECONSTRUCTIONS = "reconstructions"
# what a training run writes into its folder (what an overwrite replaces)
TRAINING_FILES = ("wts.h5.zip", "history.json", "config.json", "preview.npz", "checkpoints", STATUS_FILE)


def holds_run(directory: Path, markers: tuple[str, ...] = RUN_MARKERS) -> bool:
    """True when ``directory`` already holds a run's files (any of ``markers``)."""
    return directory.is_dir() and any((directory / m).exists() for m in markers)


def _stamp(now: float | None) -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() if now is None else now))


def _unique(path: Path) -> Path:
    """``path``, or ``path-2``, ``path-3``… when it exists (two runs within the same second)."""
    if not path.exists():
        return path
    i = 2
    while path.with_name(f"{path.name}-{i}").exists():
        i += 1
    return path.with_name(f"{path.name}-{i}")


def _safe(stem: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in stem) or "scan"


def train_target(chosen: Path, scan_stem: str, now: float | None = None) -> tuple[Path, bool]:
    """(folder the run writes into, whether that replaces an existing run).

    A folder that already holds a run was pointed at on purpose: it is reused (replace = True).
    Any other folder is a parent: the run gets a new sub-folder named by time and scan.
    """
    if holds_run(chosen):
        return chosen, True
    return _unique(chosen / f"{_stamp(now)}-{_safe(scan_stem)}"), False


def writable(folder: Path) -> bool:
    """Whether new files can be created in ``folder`` (or, when missing, in its nearest parent)."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return os.access(probe, os.W_OK | os.X_OK)


def inference_target(model_dir: Path, scan_stem: str, runs_folder: Path | None, now: float | None = None,
                     read_only: tuple[Path, ...] = ()) -> Path:
    """A new folder for a reconstruction, stored with the model it came from when possible
    (not when that folder is read-only, or inside ``read_only`` — e.g. the bundled resources)."""
    name = f"{_safe(scan_stem)}-{_stamp(now)}"
    inside = any(model_dir.resolve().is_relative_to(r.resolve()) for r in read_only)
    if not inside and writable(model_dir / RECONSTRUCTIONS):
        return _unique(model_dir / RECONSTRUCTIONS / name)
    parent = runs_folder if runs_folder is not None else Path.home() / "PtychoStudio" / "runs"
    return _unique(parent / RECONSTRUCTIONS / f"{_safe(model_dir.name)}-{name}")


def replaced_files(directory: Path) -> list[str]:
    """The names of the training files a new training run in ``directory`` would replace."""
    return [name for name in TRAINING_FILES if (directory / name).exists()]


def overwrite_text(directory: Path) -> str:
    """The overwrite question's detail: exactly what a new training run replaces and keeps."""
    files = replaced_files(directory)
    text = f"Replaced: {', '.join(files) if files else 'nothing yet'}."
    recs = reconstructions(directory)
    if recs:
        text += (f" Kept: its {len(recs)} reconstruction(s) in {RECONSTRUCTIONS}/, which were made with the old "
                 "model.")
    return text + " Continue?"


def write_status(run_dir: Path, status: str, **details: Any) -> None:
    """Record how the app's run in ``run_dir`` ended (atomic; a failure to write is not fatal)."""
    from ptycho_engine.io.atomic import atomic_write_json

    try:
        atomic_write_json(run_dir / STATUS_FILE, {"status": status, "time": _stamp(None), **details})
    except OSError:
        pass


def read_status(run_dir: Path) -> dict[str, Any]:
    """The recorded status, or {} when the folder has none (a CLI run, or an older app)."""
    try:
        data = json.loads((run_dir / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def status_note(run_dir: Path) -> str:
    """'' for a completed or unknown run; a plain warning for a cancelled or failed one."""
    st = read_status(run_dir)
    if st.get("status") == "cancelled":
        done, total = st.get("epochs_done"), st.get("n_epochs")
        at = f" after {done} of {total} epochs" if done is not None and total else ""
        return f"cancelled{at}: the model holds the weights of that moment"
    if st.get("status") == "failed":
        return "failed: " + str(st.get("message", ""))
    return ""


def reconstructions(run_dir: Path) -> list[Path]:
    """Reconstruction folders made with the model in ``run_dir``, newest first."""
    base = run_dir / RECONSTRUCTIONS
    if not base.is_dir():
        return []
    found = [p for p in base.iterdir() if p.is_dir() and (p / "reconstruction.npz").is_file()]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def model_of_reconstruction(folder: Path) -> Path | None:
    """The model run a reconstruction folder belongs to (``<run>/reconstructions/<name>``), or None."""
    parent = folder.parent
    if parent.name == RECONSTRUCTIONS and (parent.parent / "wts.h5.zip").is_file():
        return parent.parent
    return None

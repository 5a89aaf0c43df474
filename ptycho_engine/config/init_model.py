"""``init_model``: which weights a training run starts from (no torch here; the factory checks early).

Values: ``""`` or ``"scratch"`` = random weights; ``"shipped"`` = the pretrained model bundled in
``resources/pretrained/wts.h5.zip``; anything else = a run folder holding ``wts.h5.zip`` or the
archive file itself. The architecture must match the run's exactly (the weights are loaded
strictly); the data statistics (input and counts scales, probe, gain) are always the new run's.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from .schema import ConfigError

__all__ = ["SCRATCH_VALUES", "SHIPPED", "shipped_model_path", "resolve_init_model", "architecture_mismatch",
           "check_architecture"]

SCRATCH_VALUES = ("", "scratch")
SHIPPED = "shipped"
ARCHIVE_NAME = "wts.h5.zip"


def shipped_model_path() -> Path:
    """Where the bundled pretrained model lives (it may not be installed)."""
    from ..api import resources_dir  # the one definition of the resources folder

    return resources_dir() / "pretrained" / ARCHIVE_NAME


def resolve_init_model(value: str | Path | None) -> Path | None:
    """The archive to start from, or None for random weights.

    Raises FileNotFoundError naming what is missing (the shipped model, a folder without an
    archive, a path that does not exist).
    """
    text = "" if value is None else str(value).strip()
    if text.lower() in SCRATCH_VALUES:
        return None
    if text.lower() == SHIPPED:
        path = shipped_model_path()
        if not path.is_file():
            raise FileNotFoundError(
                f"init_model 'shipped': no pretrained model is shipped with this installation (expected {path}); "
                "pretrain one with `ptycho-engine pretrain` and give its run folder, or use 'scratch'")
        return path
    path = Path(text).expanduser()
    if path.is_dir():
        archive = path / ARCHIVE_NAME
        if not archive.is_file():
            raise FileNotFoundError(f"init_model: the folder {path} holds no {ARCHIVE_NAME} model archive")
        return archive
    if path.is_file():
        return path
    raise FileNotFoundError(f"init_model: {text!r} is not 'scratch', 'shipped', a run folder or a {ARCHIVE_NAME} "
                            "file (no such path)")


def architecture_mismatch(archived: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    """'name: archive X, this run Y' for every architecture field both name and that differ."""
    out = []
    for name in sorted(set(archived) & set(wanted)):
        a, w = archived[name], wanted[name]
        if isinstance(a, (int, float)) and isinstance(w, (int, float)) and not isinstance(a, bool):
            same = float(a) == float(w)
        else:
            same = a == w
        if not same:
            out.append(f"{name}: model {a!r}, this run {w!r}")
    return out


def check_architecture(archive: Path, archived: Mapping[str, Any], wanted: Mapping[str, Any]) -> None:
    """ConfigError naming every mismatched architecture field (the weights could not be loaded)."""
    diffs = architecture_mismatch(archived, wanted)
    if diffs:
        raise ConfigError(f"init_model {archive} has a different architecture than this run ({'; '.join(diffs)}); "
                          "set these fields to the model's values or start from scratch")

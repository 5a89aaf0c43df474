"""Start a training run from a trained model's weights (fine-tuning, or a pretrained start).

Only the learned weights move over. The probe, the input and counts scales and the gain describe
the data, so they stay the new run's (scales from its scans, gain calibrated afterwards).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..events import EventCallback, LogLine

#: state-dict entries that belong to the data, not to what the network learned
DATA_STATE = ("probe_ri", "log_gain", "input_scale", "counts_scale")


def load_initial_weights(model: Any, init_model: str | Path | None) -> Path | None:
    """Copy the weights named by ``init_model`` into ``model``; returns the archive, or None (scratch).

    Raises FileNotFoundError (missing model), ArchiveError (unreadable archive) or ConfigError
    naming every architecture field that differs from this run's.
    """
    from ..archive import ArchiveError, load_archive
    from ..config.init_model import check_architecture, resolve_init_model

    archive = resolve_init_model(init_model)
    if archive is None:
        return None
    loaded = load_archive(archive)  # strict: every tensor present, right shapes, finite
    check_architecture(archive, loaded.model.arch, model.arch)
    state = {k: v for k, v in loaded.model.state_dict().items() if k not in DATA_STATE}
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if k not in DATA_STATE]
    if missing or result.unexpected_keys:
        raise ArchiveError(f"{archive}: its tensors do not fit this run's network (missing {missing[:5]}, "
                           f"unexpected {list(result.unexpected_keys)[:5]})")
    return archive


def start_and_calibrate(model: Any, cfg: Any, scans: Any, on_event: EventCallback) -> Any:
    """Load ``cfg.init_model``'s weights (if any) into a new model, then calibrate its gain on the scans.

    Returns the calibrated probe bank (None for one scan). Shared by both backends' training, so
    a fine-tuned start and its log lines are the same whichever engine trains.
    """
    from .scans import calibrate_bank

    start = load_initial_weights(model, getattr(cfg, "init_model", None))
    if start is not None:
        on_event(LogLine(f"starting from the network weights of {start} (scales, probe and gain are this run's)"))
    g0, bank = calibrate_bank(model, scans)
    on_event(LogLine(f"input scale {float(model.input_scale):.4g}, counts scale s² {float(model.counts_scale):.4g} "
                     f"(nphotons {scans.first.nphotons:g}), initial gain exp({g0:.3f})"))
    return bank

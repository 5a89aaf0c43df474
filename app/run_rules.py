"""When Train, Infer and Pretrain may run, and why not — plain Python, testable without Qt.

The window gathers a :class:`Readiness` snapshot of its panels and asks these functions; the
first reason found is what the disabled button's tooltip and the red line say.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Readiness:
    """What the rules need to know about the window right now."""

    running: bool = False
    scans_busy: bool = False
    n_scans: int = 1  # scans listed (training + validation)
    scan_set_reason: str | None = None  # why the training set cannot be trained on
    scan_error: str | None = None  # the previewed scan was refused
    scan_loaded: bool = False  # the previewed scan was read and validated
    train_form_reason: str | None = None
    infer_form_reason: str | None = None
    init_model_problem: str | None = None
    output_dir: Path | None = None
    model_dir: Path | None = None


def train_reason(r: Readiness) -> str | None:
    """Why Train is disabled right now (None = it may run)."""
    if r.running:
        return "A run is in progress."
    if r.scans_busy:
        return "Checking the scan files…" if r.n_scans > 1 else "Checking the scan file…"
    for reason in (r.scan_set_reason, r.train_form_reason):
        if reason:
            return reason
    if r.init_model_problem:
        return f"Fix the starting model (init_model): {r.init_model_problem}"
    if r.output_dir is None:
        return "Choose a runs folder (where new run folders are made)."
    return None


def current_scan_reason(r: Readiness, purpose: str) -> str | None:
    """Why the previewed scan cannot be used ``purpose`` (e.g. 'to reconstruct')."""
    if r.running:
        return "A run is in progress."
    if r.scans_busy:
        return "Checking the scan file…"
    if r.scan_error:
        return f"The scan file is not usable: {r.scan_error}"
    if not r.scan_loaded:
        return f"Choose a scan file {purpose}."
    return None


def infer_reason(r: Readiness) -> str | None:
    """Why Infer is disabled right now (None = it may run)."""
    reason = current_scan_reason(r, "to reconstruct")
    if reason:
        return reason
    if r.model_dir is None:
        return "No model yet: train one, or use Load model…"
    return r.infer_form_reason or None


def pretrain_reason(r: Readiness, dialog_reason: str | None, pretrain_output: Path | None) -> str | None:
    """Why pretraining cannot start: it needs the previewed scan's probe, valid Training
    parameters (the model it pretrains is the one training will use) and its own settings."""
    reason = current_scan_reason(r, "whose probe to use") or r.train_form_reason or dialog_reason
    if reason:
        return reason
    if pretrain_output is None:
        return "Choose a folder for the pretraining run."
    return None


SCAN_PROBLEM_PREFIXES = ("The scan file is not usable:", "The validation scan is not usable:",
                         "These scans cannot be trained together:")


def brief(reason: str | None) -> str | None:
    """The reason as the red line and the status bar say it: a scan's own problem is already shown
    in full under Scan data (the button's tooltip keeps it too), so it is pointed to, not repeated."""
    if reason:
        for prefix in SCAN_PROBLEM_PREFIXES:
            if reason.startswith(prefix):
                return prefix.rstrip(":") + " (the problem is shown under Scan data)."
    return reason

"""The metrics of a reconstruction as a readable table (plain Python, no Qt).

Why: metrics.json holds each score twice (flat headline keys and nested per-image dicts) plus
bookkeeping (registration, FRC curves); a person wants one row per measure, one column per image,
the network-only scores beside the refined ones, and the bookkeeping in one sentence.
"""
from __future__ import annotations

from typing import Any

MEASURES = (
    ("SSIM", "ssim"),
    ("PSNR (dB)", "psnr_db"),
    ("FRC resolution (px)", "frc_resolution_px"),
    ("Mean absolute error", "mae"),
    ("Mean squared error", "mse"),
)


def _score(metrics: dict[str, Any], part: str, key: str) -> float | None:
    nested = metrics.get(part)
    if isinstance(nested, dict):
        if key == "frc_resolution_px":
            frc = nested.get("frc")
            if isinstance(frc, dict) and isinstance(frc.get("resolution_px"), (int, float)):
                return float(frc["resolution_px"])
        elif isinstance(nested.get(key), (int, float)):
            return float(nested[key])
    flat = metrics.get(f"{part}_{key}")
    return float(flat) if isinstance(flat, (int, float)) and not isinstance(flat, bool) else None


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def metric_table(metrics: dict[str, Any] | None) -> tuple[list[str], list[list[str]]]:
    """(column headers, rows): one row per measure present, no key twice."""
    if not metrics:
        return [], []
    network = metrics.get("network_only") if isinstance(metrics.get("network_only"), dict) else None
    refined = isinstance(metrics.get("refinement"), dict) or network is not None
    headers = ["Measure", "Amplitude (refined)" if refined else "Amplitude", "Phase (refined)" if refined else "Phase"]
    if network is not None:
        headers += ["Amplitude (network only)", "Phase (network only)"]
    rows: list[list[str]] = []
    for label, key in MEASURES:
        values = [_score(metrics, "amplitude", key), _score(metrics, "phase", key)]
        if network is not None:
            values += [_score(network, "amplitude", key), _score(network, "phase", key)]
        if any(v is not None for v in values):
            rows.append([label] + [_fmt(v) for v in values])
    return headers, rows


#: column headers short enough for a narrow window; the full name goes in the tooltip
SHORT_HEADERS = {
    "Amplitude": "Amp.", "Amplitude (refined)": "Amp.", "Phase (refined)": "Phase",
    "Amplitude (network only)": "Amp. (net)", "Phase (network only)": "Phase (net)",
}


def short_header(header: str) -> str:
    """The short form of a column header (itself when already short)."""
    return SHORT_HEADERS.get(header, header)


def comparison_note(metrics: dict[str, Any] | None) -> str:
    """How the scores were computed, in one sentence ('' when nothing is recorded)."""
    if not metrics:
        return ""
    parts = []
    shape = metrics.get("shape")
    if isinstance(shape, (list, tuple)) and len(shape) == 2:
        parts.append(f"compared on {shape[0]} × {shape[1]} px")
    reg = metrics.get("registration")
    if isinstance(reg, dict) and reg.get("applied") and reg.get("shift_px"):
        dy, dx = reg["shift_px"][:2]
        parts.append(f"after a registration shift of ({dy:+.2f}, {dx:+.2f}) px")
    ph = metrics.get("phase_alignment")
    if isinstance(ph, dict) and ph.get("removed"):
        parts.append(f"phase offset {ph.get('offset_rad', 0.0):+.2f} rad and ramp removed")
    amp = metrics.get("amplitude_scale")
    if isinstance(amp, dict) and amp.get("applied"):
        parts.append(f"amplitude scaled × {amp.get('factor', 1.0):.3g}")
    return ("Metrics against the scan's ground truth, " + ", ".join(parts) + ".") if parts else \
        "Metrics against the scan's ground truth."


def refinement_note(refinement: dict[str, Any] | None) -> str:
    """'Refined: 20 passes (stopped: converged).' — '' without refinement."""
    if not isinstance(refinement, dict):
        return ""
    passes = refinement.get("passes", refinement.get("epochs"))
    text = f"Refined against the scan's patterns: {passes} passes" if passes is not None else "Refined"
    if refinement.get("stop_reason"):
        text += f" (stopped: {refinement['stop_reason']})"
    return text + "."

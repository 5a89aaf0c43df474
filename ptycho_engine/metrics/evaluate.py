"""``evaluate_reconstruction``: align a reconstruction to a reference object, then score it.

Unlike the reference implementation (section 6 of the fact sheet), PSNR uses an explicit
``data_range`` (the reference's range) that is reported next to the value, never an implicit
peak of 255; SSIM uses the same explicit range. The output is plain JSON (floats, lists, None).

PSNR of identical images is infinite; it is reported as ``None`` (JSON null) with
``psnr_infinite = True``. Images whose RMS difference is below 1e-10 of the data range (PSNR
> 200 dB, i.e. floating-point round-off) count as identical.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .alignment import apply_shift, estimate_shift, fit_phase_plane, remove_phase_plane
from .frc import frc_resolution

__all__ = ["evaluate_reconstruction", "image_scores", "headline_metrics", "HEADLINE_KEYS", "PSNR_IDENTICAL_RTOL"]

PSNR_IDENTICAL_RTOL = 1e-10  # RMS error below 1e-10 * data_range (PSNR > 200 dB) counts as identical
#: the scalars a metrics record leads with (the CLI prints them, the GUI lists them first)
HEADLINE_KEYS = tuple(f"{part}_{name}" for part in ("amplitude", "phase")
                      for name in ("ssim", "psnr_db", "frc_resolution_px"))


def headline_metrics(scores: dict[str, Any]) -> dict[str, Any]:
    """``{amplitude,phase}_{ssim,psnr_db,frc_resolution_px}`` of an ``evaluate_reconstruction`` result."""
    out: dict[str, Any] = {}
    for part in ("amplitude", "phase"):
        out[f"{part}_ssim"] = scores[part]["ssim"]
        out[f"{part}_psnr_db"] = scores[part]["psnr_db"]
        out[f"{part}_frc_resolution_px"] = scores[part]["frc"]["resolution_px"]
    return out


def _centre_crop(img: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    r0 = (img.shape[0] - shape[0]) // 2
    c0 = (img.shape[1] - shape[1]) // 2
    return img[r0 : r0 + shape[0], c0 : c0 + shape[1]]


def _border_crop(img: np.ndarray, margin: int) -> np.ndarray:
    return img[margin : img.shape[0] - margin, margin : img.shape[1] - margin] if margin > 0 else img


def _ssim_window(shape: tuple[int, ...]) -> int:
    side = min(shape)
    win = min(7, side if side % 2 == 1 else side - 1)
    if win < 3:
        raise ValueError(f"images of {shape} are too small for SSIM (need at least 3 x 3 after cropping)")
    return win


def image_scores(test: np.ndarray, ref: np.ndarray, data_range: float, *, apodize_frc: bool = True) -> dict[str, Any]:
    """SSIM, PSNR, MAE, MSE and FRC of two real images, with the ``data_range`` used stated."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    ssim = structural_similarity(ref, test, data_range=data_range, win_size=_ssim_window(ref.shape))
    mse = float(np.mean((test - ref) ** 2))
    # round-off (e.g. exp(-i*1e-18) from the ramp fit) must not turn "identical" into 350 dB
    identical = mse <= (PSNR_IDENTICAL_RTOL * data_range) ** 2
    psnr = math.inf if identical else float(peak_signal_noise_ratio(ref, test, data_range=data_range))
    return {
        "ssim": float(ssim),
        "psnr_db": psnr if math.isfinite(psnr) else None,
        "psnr_infinite": not math.isfinite(psnr),
        "data_range": float(data_range),
        "mae": float(np.mean(np.abs(test - ref))),
        "mse": mse,
        "frc": frc_resolution(test, ref, apodize=apodize_frc),
    }


def evaluate_reconstruction(
    reconstruction: np.ndarray,
    reference: np.ndarray,
    *,
    crop: int = 0,
    register: bool = True,
    upsample_factor: int = 50,
    max_shift: float | None = None,
    remove_phase_ramp: bool = True,
    scale_amplitude: bool = True,
    apodize_frc: bool = True,
) -> dict[str, Any]:
    """Compare a complex reconstruction with a complex reference of the same (H, W) shape.

    Steps: centre-crop both to a common shape (noted if they differ); drop ``crop`` border pixels;
    register with sub-pixel accuracy (``phase_cross_correlation``, ``upsample_factor`` >= 20) and
    Fourier-shift the reconstruction, then drop ceil(|shift|) border pixels that wrapped around
    (a shift larger than ``max_shift`` pixels is not trusted: it is reported, not applied);
    fit and remove the global phase offset and linear phase ramp (weighted least squares, weights
    |rec||ref|); optionally scale the amplitude by mean(|ref|)/mean(|rec|); then score amplitude
    and phase (SSIM/PSNR/MAE/MSE with data_range = the reference's range, FRC at the 1/2-bit
    threshold). The phase of the reconstruction is taken as phase(ref) + wrap(phase(rec) -
    phase(ref)), so a +pi/-pi wrap is not counted as a 2*pi error.
    """
    rec = np.asarray(reconstruction)
    ref = np.asarray(reference)
    if rec.ndim != 2 or ref.ndim != 2:
        raise ValueError(f"evaluate_reconstruction needs 2-D images, got {rec.shape} and {ref.shape}")
    if upsample_factor < 20:
        raise ValueError(f"upsample_factor must be >= 20 for sub-pixel registration, got {upsample_factor}")
    if crop < 0:
        raise ValueError(f"crop must be >= 0, got {crop}")
    rec = rec.astype(np.complex128)
    ref = ref.astype(np.complex128)
    for name, arr in (("reconstruction", rec), ("reference", ref)):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or infinite values")
    notes: list[str] = []
    if rec.shape != ref.shape:
        common = (min(rec.shape[0], ref.shape[0]), min(rec.shape[1], ref.shape[1]))
        notes.append(f"shapes differ ({rec.shape} vs {ref.shape}); both centre-cropped to {common}")
        rec, ref = _centre_crop(rec, common), _centre_crop(ref, common)
    rec, ref = _border_crop(rec, crop), _border_crop(ref, crop)

    shift = np.zeros(2)
    rejected: np.ndarray | None = None
    kind = None
    margin = 0
    if register:
        shift, kind = estimate_shift(rec, ref, upsample_factor=upsample_factor)
        if kind == "none (featureless image)":
            notes.append("registration skipped: the images have no structure to register on")
        elif kind == "phase_gradient":
            # phase-only object: refine on the complex images once the ramp is known (the slope
            # images are noisier); a ramp fitted in the shifted frame differs only by a constant
            a, b, _ = fit_phase_plane(apply_shift(rec, shift), ref)
            shift, _ = estimate_shift(remove_phase_plane(rec, a, b, 0.0), ref, upsample_factor, complex_images=True)
            kind = "phase_gradient+complex"
        largest = float(np.max(np.abs(shift)))
        if max_shift is not None and largest > max_shift:
            notes.append(f"registration proposed a {largest:.1f} px shift (> {max_shift:g} px); not applied, "
                         "the images are compared as given")
            rejected, shift = shift, np.zeros(2)
        if np.any(shift != 0):
            rec = apply_shift(rec, shift)
            margin = int(math.ceil(float(np.max(np.abs(shift)))))
            rec, ref = _border_crop(rec, margin), _border_crop(ref, margin)

    a = b = c = 0.0
    if remove_phase_ramp:
        a, b, c = fit_phase_plane(rec, ref)
        rec = remove_phase_plane(rec, a, b, c)

    amp_rec, amp_ref = np.abs(rec), np.abs(ref)
    factor = 1.0
    if scale_amplitude:
        mean_rec = float(amp_rec.mean())
        if mean_rec > 0:
            factor = float(amp_ref.mean()) / mean_rec
            amp_rec = amp_rec * factor
        else:
            notes.append("reconstruction amplitude is all zero; amplitude not scaled")

    amp_range = float(amp_ref.max() - amp_ref.min())
    if amp_range <= 0:
        amp_range = float(amp_ref.max()) or 1.0
        notes.append(f"reference amplitude is constant; amplitude data_range set to {amp_range:g}")
    phase_ref = np.angle(ref)
    phase_rec = phase_ref + np.angle(rec * np.conj(ref))
    phase_range = float(phase_ref.max() - phase_ref.min())
    if phase_range <= 0:
        phase_range = 2 * math.pi
        notes.append("reference phase is constant; phase data_range set to 2*pi")

    amplitude = image_scores(amp_rec, amp_ref, amp_range, apodize_frc=apodize_frc)
    phase = image_scores(phase_rec, phase_ref, phase_range, apodize_frc=apodize_frc)
    phase["mae"] = float(np.mean(np.abs(phase_rec - phase_ref)))  # == mean |wrapped difference|

    return {
        "shape": [int(s) for s in ref.shape],
        "crop_px": int(crop),
        "registration": {
            "applied": bool(register) and rejected is None,
            "shift_px": [float(s) for s in shift],  # (row, col) applied to the reconstruction
            "rejected_shift_px": None if rejected is None else [float(s) for s in rejected],
            "upsample_factor": int(upsample_factor),
            "image": kind,
            "wrap_margin_px": margin,
        },
        "phase_alignment": {
            "removed": bool(remove_phase_ramp),
            "offset_rad": c,
            "ramp_x_rad_per_px": a,
            "ramp_y_rad_per_px": b,
        },
        "amplitude_scale": {"applied": bool(scale_amplitude), "factor": factor},
        "amplitude": amplitude,
        "phase": phase,
        "psnr_note": "PSNR = 10 log10(data_range^2 / MSE) with data_range = the reference's range; "
        "None with psnr_infinite = true when the images are identical (RMS error < 1e-10 data_range)",
        "notes": notes,
    }

"""Writing an inference run directory; every file goes through an atomic write.

Layout (INTERFACES.md): ``reconstruction.npz`` (object complex64, amplitude, phase, origin_x,
origin_y, weight; plus ``object_network``, the network's stitched object, when it was refined, and
``probe_refined`` / ``positions_initial`` / ``positions_refined`` when refinement moved them), ``amplitude.png``, ``phase.png`` (cyclic 'twilight'), ``metrics.json`` and
``comparison.png`` when the scan has an objectGuess, ``inference_config.json`` (resolved
configuration and what the run did; not ``config.json``, so pointing inference at a training run
directory never overwrites the training configuration), ``product-out.h5`` (the same result as a
ptychodus product file, :func:`write_product_output`). When the scan has a physical geometry its
values (``object_pixel_size_m``, ``probe_energy_eV``, ... see :mod:`ptycho_engine.data.geometry`)
are float64 scalars in ``reconstruction.npz`` too. A metrics.json / comparison.png left by
an earlier run is removed when this run has no reference, so the directory never mixes runs.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..io.atomic import atomic_write_bytes, atomic_write_json, atomic_writer
from ..io.images import write_amplitude_png, write_phase_png

FILE_NAMES = {
    "reconstruction": "reconstruction.npz",
    "amplitude_png": "amplitude.png",
    "phase_png": "phase.png",
    "metrics": "metrics.json",
    "comparison_png": "comparison.png",
    "config": "inference_config.json",
    "product_out": "product-out.h5",
}


def write_reconstruction_npz(path: Path, obj: np.ndarray, weight: np.ndarray, origin_x: float,
                             origin_y: float, network_object: np.ndarray | None = None,
                             geometry: dict[str, float] | None = None,
                             arrays: dict[str, np.ndarray] | None = None) -> Path:
    obj = np.asarray(obj, dtype=np.complex64)
    extra = {} if network_object is None else {"object_network": np.asarray(network_object, dtype=np.complex64)}
    extra.update({key: np.float64(value) for key, value in (geometry or {}).items()})
    extra.update({key: np.asarray(value) for key, value in (arrays or {}).items()})
    with atomic_writer(path, "wb") as fh:
        np.savez_compressed(fh, object=obj, amplitude=np.abs(obj).astype(np.float32),
                            phase=np.angle(obj).astype(np.float32), origin_x=np.float64(origin_x),
                            origin_y=np.float64(origin_y), weight=np.asarray(weight, dtype=np.float32), **extra)
    return path


def comparison_png_bytes(rec: np.ndarray, ref: np.ndarray, metrics: dict[str, Any] | None) -> bytes:
    """2 x 2 figure: reference / reconstruction amplitude (grey) and phase (twilight), same region."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 7), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 2)
    # remove the global phase offset so the two phase images are directly comparable
    offset = np.angle(np.sum(rec * np.conj(ref)))
    rec_aligned = rec * np.exp(-1j * offset)
    amp_lo, amp_hi = float(np.abs(ref).min()), float(np.abs(ref).max())
    scale = float(np.abs(ref).mean() / max(np.abs(rec).mean(), 1e-30))
    # weak phase objects would be one flat colour on [-pi, pi]: show both on the reference's range
    ph_lo, ph_hi = float(np.angle(ref).min()), float(np.angle(ref).max())
    if not ph_hi - ph_lo < 1.8 * np.pi or ph_hi - ph_lo < 1e-6:
        ph_lo, ph_hi = -np.pi, np.pi
    panels = [
        (axes[0, 0], np.abs(ref), "reference amplitude", "gray", amp_lo, amp_hi),
        (axes[0, 1], np.abs(rec) * scale, "reconstructed amplitude (scaled)", "gray", amp_lo, amp_hi),
        (axes[1, 0], np.angle(ref), "reference phase (rad)", "twilight", ph_lo, ph_hi),
        (axes[1, 1], np.angle(rec_aligned), "reconstructed phase (offset removed)", "twilight", ph_lo, ph_hi),
    ]
    for ax, img, title, cmap, lo, hi in panels:
        im = ax.imshow(img, cmap=cmap, vmin=lo, vmax=hi if hi > lo else lo + 1)
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if metrics:
        a, p = metrics.get("amplitude", {}), metrics.get("phase", {})
        fig.suptitle(f"SSIM amplitude {a.get('ssim', float('nan')):.3f}   phase {p.get('ssim', float('nan')):.3f}",
                     fontsize=10)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def write_outputs(out_dir: Path, obj: np.ndarray, weight: np.ndarray, origin_x: float, origin_y: float,
                  metrics: dict[str, Any] | None, crops: tuple[np.ndarray, np.ndarray] | None,
                  config: dict[str, Any] | None, network_object: np.ndarray | None = None,
                  geometry: dict[str, float] | None = None,
                  arrays: dict[str, np.ndarray] | None = None) -> dict[str, Path]:
    """Write every result file of the run (but ``product-out.h5``, see :func:`write_product_output`);
    returns {name: path} of what was written."""
    files: dict[str, Path] = {}
    files["reconstruction"] = write_reconstruction_npz(out_dir / FILE_NAMES["reconstruction"], obj, weight,
                                                       origin_x, origin_y, network_object, geometry, arrays)
    files["amplitude_png"] = write_amplitude_png(out_dir / FILE_NAMES["amplitude_png"], obj)
    files["phase_png"] = write_phase_png(out_dir / FILE_NAMES["phase_png"], obj)
    if metrics is not None:
        files["metrics"] = atomic_write_json(out_dir / FILE_NAMES["metrics"], metrics)
        if crops is not None:
            files["comparison_png"] = atomic_write_bytes(out_dir / FILE_NAMES["comparison_png"],
                                                         comparison_png_bytes(crops[0], crops[1], metrics))
    if config is not None:
        files["config"] = atomic_write_json(out_dir / FILE_NAMES["config"], config)
    for name in ("metrics", "comparison_png"):
        stale = out_dir / FILE_NAMES[name]
        if name not in files and stale.exists():
            stale.unlink()
    return {k: Path(v) for k, v in files.items()}


def write_product_output(out_dir: Path, result: Any, scan: Any, used: np.ndarray,
                         losses: Sequence[float] | None = None, comments: str = "") -> Path:
    """``product-out.h5`` beside ``reconstruction.npz``: ``result``'s object (an InferenceResult),
    its refined probe / positions when it has them (``probe_refined``, ``positions_refined``), else
    the scan's; the scan's geometry; ``losses`` as the loss history."""
    from ..io.product_out import build_product_out, write_product_out

    product = build_product_out(result.object, result.origin_x, result.origin_y, scan, used,
                                probe=getattr(result, "probe_refined", None),
                                positions=getattr(result, "positions_refined", None), losses=losses,
                                comments=comments)
    return write_product_out(out_dir / FILE_NAMES["product_out"], product)

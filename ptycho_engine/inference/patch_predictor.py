"""Complex object patches straight from diffraction amplitudes, for any model archive we can load.

Why a separate entry point: ``infer`` needs a whole scan (positions, grouping, stitching). This
is the bare diffraction -> object map, the reference's ``diffraction_to_obj`` ``obj`` output, so
that a model can be compared patch for patch with another implementation or used in a pipeline
of one's own. Inputs are in the units the model's network takes: for our archives the scan's own
amplitudes (the model applies its stored input scale), for an imported PtychoPINN archive what
its ``diffraction_to_obj`` takes (``intensity_scale * normalised amplitudes``).
"""
from __future__ import annotations

from typing import Any

import numpy as np


def _as_groups(amplitudes: Any, N: int, C: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """(B, C, N, N) float32 and the caller's shape; the message names expected and found."""
    x = np.asarray(amplitudes)
    shape = tuple(x.shape)
    want = f"(B, {N}, {N}) or (B, 1, {N}, {N})" if C == 1 else f"(B, {C}, {N}, {N})"
    if x.dtype.kind not in "fiu":
        raise ValueError(f"amplitudes: expected real diffraction amplitudes {want}, found dtype {x.dtype}")
    if C == 1 and x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[1] != C or x.shape[2:] != (N, N) or x.shape[0] < 1:
        raise ValueError(f"amplitudes: the model (N={N}, gridsize={int(round(C ** 0.5))}) expects {want}, "
                         f"found shape {shape}")
    x = x.astype(np.float32, copy=False)
    if not np.all(np.isfinite(x)):
        raise ValueError("amplitudes: expected finite values, found NaN or infinity")
    return x, shape


def predict_patches(model: Any, amplitudes: Any, *, offsets: Any = None, device: str = "cpu",
                    batch_size: int = 64) -> np.ndarray:
    """Complex64 object patches with the shape of ``amplitudes`` ((B, N, N) or (B, C, N, N)).

    ``model``: a model directory, a ``wts.h5.zip`` (ours or the reference's), or a loaded model
    (:class:`ptycho_engine.archive.LoadedModel`). ``offsets`` (B, C, 2) [x, y] of each channel
    from the group centre are zero by default; only a generator with physics updates
    (``unrolled``) uses them, the CNN ignores them.
    """
    import torch

    from ..archive import LoadedModel, archive_file, load_archive

    loaded = model if isinstance(model, LoadedModel) else load_archive(archive_file(model), device=device)
    net = loaded.model
    x, shape = _as_groups(amplitudes, net.N, net.C)
    B = x.shape[0]
    rel = np.zeros((B, net.C, 2), np.float32) if offsets is None else np.asarray(offsets, np.float32)
    if rel.shape != (B, net.C, 2):
        raise ValueError(f"offsets: expected shape ({B}, {net.C}, 2), found {rel.shape}")
    dev = torch.device(loaded.device)
    out = np.empty(x.shape, np.complex64)
    was_training = net.training
    net.eval()
    try:
        with torch.inference_mode():
            for s in range(0, B, max(1, int(batch_size))):
                xb = torch.from_numpy(x[s:s + batch_size]).to(dev)
                rb = torch.from_numpy(rel[s:s + batch_size]).to(dev)
                out[s:s + batch_size] = net.predict_object(xb, rb).to(torch.complex64).cpu().numpy()
    finally:
        net.train(was_training)
    return out.reshape(shape)

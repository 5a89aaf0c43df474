"""Streaming inference for scans larger than memory: predict a chunk of groups, stitch it, add it
to one numerator/denominator canvas, drop the chunk. Memory = one chunk + the object canvas.

Built only on public engine pieces (``stitching.stitch_patches`` per chunk on the chunk's own
bounding box, added into one complex64 numerator and float32 weight canvas);
this is the behaviour requested from PHYSICS/DATA as a real ``stitch_accumulate`` API, see the
README. Checked against one-shot ``stitch_patches``: equal to 3e-6 wherever the weight is above
1e-3 of its peak; only barely-lit edge pixels (float32 num/den) differ more.
"""
from __future__ import annotations

import numpy as np
import torch


class StandInModel(torch.nn.Module):
    """A network stand-in for memory runs: object = measured amplitude (as complex).

    Why: the real CNN predicts ~10-40 patterns/s on this 2-core machine, so 10^5 patterns would
    take an hour; its memory per batch is constant, so it does not change how memory grows.
    """

    def predict_object(self, x: torch.Tensor, rel: torch.Tensor | None = None) -> torch.Tensor:
        return x.to(torch.complex64)


def canvas_frame(positions: np.ndarray, N: int, margin: int = 1) -> tuple[int, int, int, int]:
    """(ox, oy, H, W) of a canvas holding every patch (same rule as stitch_patches' default)."""
    r0 = np.floor(positions[:, 1] - N // 2).astype(np.int64)
    c0 = np.floor(positions[:, 0] - N // 2).astype(np.int64)
    oy, ox = int(r0.min()) - margin, int(c0.min()) - margin
    return ox, oy, int(r0.max()) + N + 1 + margin - oy, int(c0.max()) + N + 1 + margin - ox


def stream_reconstruct(model, grouped, batch_size: int = 64, chunk_groups: int = 4096, probe=None,
                       weighting: str = "probe") -> tuple[np.ndarray, np.ndarray, float, float]:
    """(object, weight, origin_x, origin_y), predicting and stitching ``chunk_groups`` at a time."""
    from ptycho_engine.stitching import stitch_patches
    from ptycho_engine.training.data import GroupDataset, make_loader

    G, C = grouped.groups.shape
    N = int(grouped.diffraction.shape[-1])
    positions = (grouped.centres[:, None, :] + grouped.rel).reshape(-1, 2)
    ox, oy, H, W = canvas_frame(positions, N)
    num = np.zeros((H, W), np.complex64)
    den = np.zeros((H, W), np.float32)
    model.eval()
    with torch.inference_mode():
        for s in range(0, G, chunk_groups):
            ids = np.arange(s, min(G, s + chunk_groups))
            loader = make_loader(GroupDataset(grouped, ids), batch_size, False, 0, 0)
            parts = [model.predict_object(x, rel).numpy() for x, rel, _ in loader]
            patches = np.concatenate(parts).reshape(-1, N, N)
            del parts
            pos = positions[s * C:(s + len(ids)) * C]
            # stitch the chunk on its own bounding box only (a band of the canvas for a raster
            # or spiral scan), then add it in place: no full-canvas temporaries per chunk
            cx, cy, h, w = canvas_frame(pos, N)
            res = stitch_patches(patches, pos - np.array([cx, cy], np.float64), weighting=weighting, probe=probe,
                                 object_shape=(h, w))
            del patches
            r, c = cy - oy, cx - ox
            num[r:r + h, c:c + w] += res.object * res.weight
            den[r:r + h, c:c + w] += res.weight
    ok = den > max(float(den.max()) * 1e-6, 1e-30)
    obj = np.zeros((H, W), np.complex64)
    obj[ok] = (num[ok] / den[ok]).astype(np.complex64)
    return obj, den.astype(np.float32), float(ox), float(oy)

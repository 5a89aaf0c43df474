"""Phase synchronisation of predicted groups before they are stitched.

Why: a diffraction pattern does not change when the exit wave is multiplied by a constant phase,
so the network cannot know the absolute phase of a group's object from the group's own patterns.
Each group comes out with its own phase offset, and averaging overlapping groups with different
offsets washes out the object's large-scale phase (measured on the demo test scan with the
unrolled generator: phase SSIM 0.71 stitched as predicted, 0.96 after synchronisation). Here each
group is turned by the one constant phase that best agrees with the stitched object where they
overlap; a few passes of this (a power iteration of the angular-synchronisation problem) make
the offsets consistent over the whole scan. The passes start from a greedy alignment: groups
are taken one by one in a spatial (serpentine) order, each turned to agree with those already
placed, so even offsets spread over the whole circle start close to consistent (power iteration
from a random start needs tens of passes there). It uses the predicted patches only, never the
measured patterns, and changes no group's phase structure, only its constant offset.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .stitch import central_only, stitch_prediction, stitch_weight_amplitude

#: passes of the power iteration after the greedy start
DEFAULT_PASSES = 5


def spatial_order(centres: np.ndarray, band: float) -> np.ndarray:
    """Group ids in a serpentine raster of bands ``band`` px high, so consecutive ids overlap.

    Chunked inference aligns each chunk against what earlier chunks stitched; contiguous chunks
    are what makes that possible on scans too large to align at once.
    """
    c = np.asarray(centres, dtype=np.float64)
    rows = np.floor((c[:, 1] - c[:, 1].min()) / max(float(band), 1.0)).astype(np.int64)
    along = np.where(rows % 2 == 0, c[:, 0], -c[:, 0])
    return np.lexsort((along, rows))


def align_group_phases(patches: np.ndarray, positions: np.ndarray, object_shape: tuple[int, int], *,
                       probe: np.ndarray | None, weighting: str, arch: dict[str, Any] | None,
                       prior_num: np.ndarray | None = None, prior_den: np.ndarray | None = None,
                       passes: int = DEFAULT_PASSES) -> np.ndarray:
    """``patches`` (g, C, N, N) turned by one phase per group so that overlapping groups agree.

    positions (g*C, 2) [x, y] in the frame of ``object_shape`` (as for ``stitch_prediction``);
    prior_num / prior_den: what earlier chunks stitched into that frame (numerator sum w·O and
    weight sum w), which the groups are aligned to as well.
    """
    import torch

    from ..physics.shifts import extract_patches

    g, C, N, _ = patches.shape
    flat = np.array(patches, dtype=np.complex64, copy=True).reshape(g * C, N, N)  # never the caller's array
    a = stitch_weight_amplitude(probe, N, weighting, central_only(arch))
    vote = np.ones((N, N), np.float32) if a is None else np.asarray(a, np.float32) ** 2
    positions = np.asarray(positions, dtype=np.float64)

    def turn_towards(rows: slice, num: np.ndarray, den: np.ndarray, x0: int, y0: int) -> None:
        """Turn the groups of ``rows`` to agree with num / den (a frame at x0, y0)."""
        ref = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
        pos = torch.from_numpy(positions[rows] - np.array([x0, y0], np.float64))
        seen = extract_patches(torch.from_numpy(ref.astype(np.complex64)), pos, N).numpy()
        overlap = (flat[rows] * np.conj(seen) * vote).sum(axis=(-2, -1)).reshape(-1, C).sum(axis=1)
        turn = np.exp(-1j * np.angle(overlap)).astype(np.complex64)
        turn[np.abs(overlap) == 0] = 1.0  # a group that overlaps nothing keeps its phase
        flat[rows] *= np.repeat(turn, C)[:, None, None]

    # greedy start: each group turned towards what is already placed, then placed. Whole-pixel
    # placement is enough for a starting phase and keeps this serial loop cheap (array slices)
    num = np.zeros(object_shape, np.complex64) if prior_num is None else np.array(prior_num, np.complex64)
    den = np.zeros(object_shape, np.float32) if prior_den is None else np.array(prior_den, np.float32)
    corner = np.rint(positions).astype(np.int64) - N // 2  # top-left pixel of each patch's window
    H, W = object_shape
    inside = (corner[:, 0] >= 0) & (corner[:, 1] >= 0) & (corner[:, 0] + N <= W) & (corner[:, 1] + N <= H)
    centres = positions.reshape(g, C, 2).mean(axis=1)
    for k in spatial_order(centres, N / 2):
        rows = range(int(k) * C, (int(k) + 1) * C)
        wins = [(slice(corner[r, 1], corner[r, 1] + N), slice(corner[r, 0], corner[r, 0] + N)) for r in rows if inside[r]]
        kept = [r for r in rows if inside[r]]
        overlap = sum((flat[r] * np.conj(num[w]) * vote).sum() for r, w in zip(kept, wins)) if kept else 0
        if overlap != 0:
            flat[int(k) * C:(int(k) + 1) * C] *= np.complex64(np.exp(-1j * np.angle(overlap)))
        for r, w in zip(kept, wins):
            num[w] += flat[r] * vote
            den[w] += vote
    # then power-iteration passes over the whole chunk (and the prior)
    for _ in range(int(passes)):
        part = stitch_prediction(flat, positions, probe=probe, weighting=weighting, arch=arch,
                                 object_shape=object_shape)
        num = part.object * part.weight
        den = part.weight.astype(np.float32)
        if prior_num is not None:
            num = num + prior_num
            den = den + prior_den
        turn_towards(slice(0, g * C), num, den, 0, 0)
    return flat.reshape(g, C, N, N)

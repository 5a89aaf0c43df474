"""Predict and stitch a scan in chunks of groups, so memory does not grow with the scan.

Keeping every predicted patch before one stitch costs G·C·N²·8 bytes (5 GB for 10^5 patterns of
64²). Here each chunk is predicted, stitched on its own bounding box and added into one
numerator/weight canvas; the final object is numerator / weight. Chunks are whole groups and
their positions are shifted by whole pixels, so each chunk's splat is the one a single stitch
would have made.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

import numpy as np

from ..events import CancelToken
from ..stitching import StitchResult, canvas_frame
from ..training.data import GroupedScan
from .phase_sync import align_group_phases, spatial_order
from .predict import predict_patches
from .stitch import stitch_prediction

#: predicted patches held at once (complex64)
CHUNK_BYTES = 256 << 20


def chunk_groups_for(C: int, N: int, chunk_bytes: int = CHUNK_BYTES) -> int:
    """How many groups of C patches of N² complex64 fit in ``chunk_bytes``."""
    return max(1, int(chunk_bytes) // (C * N * N * 8))


@contextlib.contextmanager
def scan_probe_in_physics(model: Any, probe: np.ndarray | None) -> Iterator[None]:
    """While predicting, a generator with physics updates uses the probe of the scan at hand.

    Why: the unrolled generator's updates illuminate with the model's probe, which is the probe of
    the TRAINING scan; a new scan (re-measured probe, another beamline) must be fitted with its own.
    The scan's probe is scaled to the model probe's energy, since the model's gain was calibrated
    with that one. The model's probe is restored afterwards.
    """
    import torch

    if probe is None or not hasattr(getattr(model, "generator", None), "refine"):
        yield
        return
    saved = model.probe_ri.detach().clone()
    new = torch.as_tensor(np.asarray(probe, dtype=np.complex64), device=saved.device)
    energy = float(saved.double().square().sum()) / max(float(new.abs().double().square().sum()), 1e-30)
    with torch.no_grad():
        model.probe_ri.copy_(torch.view_as_real(new * energy ** 0.5).to(saved.dtype))
    try:
        yield
    finally:
        with torch.no_grad():
            model.probe_ri.copy_(saved)


def predict_and_stitch(model: Any, grouped: GroupedScan, device: Any, batch_size: int, *, probe: np.ndarray,
                       weighting: str, arch: dict[str, Any] | None, num_workers: int = 0,
                       precision: str = "32-true", chunk_groups: int | None = None,
                       on_batch: Callable[[int, int], None] | None = None,
                       cancel: CancelToken | None = None, min_weight: float = 1e-6,
                       phase_sync_passes: int = 0) -> StitchResult:
    """The stitched object of every group of ``grouped`` (patch c of a group at centre + rel_c).

    phase_sync_passes > 0: each chunk's groups are turned to a common phase offset before they are
    added (see :mod:`.phase_sync`); the groups are then taken in a spatial order so that every
    chunk overlaps what earlier chunks stitched.
    """
    G, C = grouped.groups.shape
    N = int(grouped.diffraction.shape[-1])
    order = spatial_order(grouped.centres, N / 2) if phase_sync_passes > 0 else np.arange(G)
    positions = (grouped.centres[order][:, None, :] + grouped.rel[order]).reshape(-1, 2)
    ox, oy, H, W = canvas_frame(positions, N)
    num = np.zeros((H, W), np.complex64)
    den = np.zeros((H, W), np.float32)
    step = chunk_groups or chunk_groups_for(C, N)
    batches_per_chunk = [-(-min(step, G - s) // max(1, batch_size)) for s in range(0, G, step)]
    total, done = sum(batches_per_chunk), 0
    for k, start in enumerate(range(0, G, step)):
        ids = order[start:min(G, start + step)]
        report = None if on_batch is None else (lambda i, _n, d=done: on_batch(d + i, total))
        with scan_probe_in_physics(model, probe):
            patches = predict_patches(model, grouped, device, batch_size, num_workers=num_workers,
                                      precision=precision, on_batch=report, cancel=cancel, ids=ids)
        done += batches_per_chunk[k]
        pos = positions[start * C:(start + len(ids)) * C]
        cx, cy, h, w = canvas_frame(pos, N)
        r, c = cy - oy, cx - ox
        local = pos - np.array([cx, cy], np.float64)
        if phase_sync_passes > 0:
            patches = align_group_phases(np.asarray(patches), local, (h, w), probe=probe, weighting=weighting,
                                         arch=arch, prior_num=num[r:r + h, c:c + w],
                                         prior_den=den[r:r + h, c:c + w], passes=phase_sync_passes)
        part = stitch_prediction(patches.reshape(-1, N, N), local, probe=probe,
                                 weighting=weighting, arch=arch, object_shape=(h, w))
        del patches
        num[r:r + h, c:c + w] += part.object * part.weight
        den[r:r + h, c:c + w] += part.weight
    # finished in place: at 10^5 patterns the canvas is the only thing that grows with the scan,
    # so no second object-sized array is made here
    ok = den > max(float(den.max()) * float(min_weight), 1e-30)
    np.divide(num, den, out=num, where=ok)
    np.logical_not(ok, out=ok)
    num[ok] = 0
    den[ok] = 0
    return StitchResult(object=num, weight=den, origin_x=float(ox), origin_y=float(oy))

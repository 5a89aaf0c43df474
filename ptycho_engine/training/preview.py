"""Live previews: stitch the object of a small fixed set of groups with the current weights."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..events import EventCallback, LogLine, Preview
from .data import GroupedScan


def preview_groups(grouped: GroupedScan, ids: np.ndarray, max_groups: int = 48) -> np.ndarray:
    """The ``max_groups`` of ``ids`` whose centres are nearest the middle of the scan (a compact area)."""
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) <= max_groups:
        return ids
    centres = grouped.centres[ids]
    middle = np.median(grouped.positions, axis=0)
    order = np.argsort(np.hypot(*(centres - middle).T), kind="stable")
    return np.sort(ids[order[:max_groups]])


def make_preview_fn(grouped: GroupedScan, ids: np.ndarray, batch_size: int
                    ) -> Callable[[torch.nn.Module], tuple[np.ndarray, np.ndarray]]:
    """``fn(model) -> (amplitude, phase)`` of the stitched object over the groups ``ids``."""
    from ..inference.stitch import stitch_prediction

    ids = np.asarray(ids, dtype=np.int64)
    groups = grouped.groups[ids]
    positions = (grouped.centres[ids][:, None, :] + grouped.rel[ids]).reshape(-1, 2)

    @torch.no_grad()
    def fn(model: torch.nn.Module) -> tuple[np.ndarray, np.ndarray]:
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        parts = []
        try:
            for i in range(0, len(ids), max(1, int(batch_size))):
                idx = groups[i:i + batch_size]
                x = torch.from_numpy(np.asarray(grouped.diffraction[idx.reshape(-1)], np.float32)
                                     .reshape(idx.shape + grouped.diffraction.shape[-2:])).to(device)
                rel = torch.from_numpy(grouped.rel[ids[i:i + batch_size]].astype(np.float32)).to(device)
                parts.append(model.predict_object(x, rel).cpu())
        finally:
            model.train(was_training)
        patches = torch.cat(parts).reshape(-1, *parts[0].shape[-2:])
        # the same stitching path as inference, so a preview looks like the final reconstruction
        result = stitch_prediction(patches.numpy(), positions, probe=model.probe.detach().cpu().numpy(),
                                   weighting="probe", arch=model.arch)
        obj = np.asarray(result.object)
        return np.abs(obj).astype(np.float32), np.angle(obj).astype(np.float32)

    return fn


def publish_preview(preview_fn: Callable[[Any], tuple[np.ndarray, np.ndarray]], model: Any, epoch: int,
                    out_dir: Path, on_event: EventCallback) -> None:
    """Make the preview with ``model``, emit it and save it as ``preview.npz`` (never fatal).

    Shared by both backends' training loops: a failed preview is a warning, not a failed run.
    """
    from ..io.atomic import atomic_writer

    try:
        amplitude, phase = preview_fn(model)
    except Exception as exc:  # a preview must never kill a training run
        on_event(LogLine(f"preview failed: {type(exc).__name__}: {exc}", level="WARNING"))
        return
    on_event(Preview(epoch=epoch, amplitude=amplitude, phase=phase))
    with atomic_writer(Path(out_dir) / "preview.npz", "wb") as fh:
        np.savez(fh, amplitude=amplitude.astype(np.float32), phase=phase.astype(np.float32),
                 epoch=np.int64(epoch))

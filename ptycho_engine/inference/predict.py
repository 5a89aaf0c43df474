"""Batched, cancellable prediction of the object patches of every group of a scan.

Reuses the training data path (``training.data.GroupDataset`` / ``make_loader``) so inference
reads and orders a group's patterns exactly as training did. ``predict_batch`` is the single
seam between data and network (tests replace it with a "perfect model").
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable

import numpy as np
import torch

from ..events import CancelToken
from ..training.data import GroupDataset, GroupedScan, make_loader, wants_pinned_memory

#: inference batch size when neither the run nor the model's training config names one
DEFAULT_BATCH_SIZE = 32


def predict_batch(model: Any, x: torch.Tensor, rel: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """Complex object patches (B, C, N, N) for one batch of groups.

    ``indices`` (B, C) are the scan indices of each channel; the network does not need them (it
    sees only the diffraction), but a replacement predictor (tests, diagnostics) may.
    """
    return model.predict_object(x, rel)


def _autocast(device: torch.device, precision: str):
    if device.type == "cuda" and precision in ("16-mixed", "bf16-mixed"):
        dtype = torch.float16 if precision == "16-mixed" else torch.bfloat16
        return torch.autocast(device_type="cuda", dtype=dtype)
    return contextlib.nullcontext()


def predict_patches(model: Any, grouped: GroupedScan, device: str | torch.device, batch_size: int, *,
                    num_workers: int = 0, precision: str = "32-true",
                    on_batch: Callable[[int, int], None] | None = None,
                    cancel: CancelToken | None = None, ids: np.ndarray | None = None) -> np.ndarray:
    """(G, C, N, N) complex64 object patches, one per channel of every group (or of the groups
    ``ids``), on the CPU.

    The cancel token is checked before every batch (raises ``CancelledError``); ``on_batch(done,
    total)`` is called after each one. Tensors go to ``device`` batch by batch.
    """
    dev = torch.device(device)
    ids = np.arange(grouped.n_groups) if ids is None else np.asarray(ids, dtype=np.int64)
    ds = GroupDataset(grouped, ids)
    loader = make_loader(ds, max(1, int(batch_size)), shuffle=False, num_workers=num_workers, seed=0,
                         pin_memory=wants_pinned_memory(dev))
    G, C = len(ids), grouped.groups.shape[1]
    N = int(grouped.diffraction.shape[-1])
    out = np.empty((G, C, N, N), dtype=np.complex64)
    total = len(loader)
    start = 0
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        with torch.inference_mode():
            for step, (x, rel, idx) in enumerate(loader, start=1):
                if cancel is not None:
                    cancel.raise_if_cancelled()
                x = x.to(dev, non_blocking=True)
                rel = rel.to(dev, non_blocking=True)
                with _autocast(dev, precision):
                    obj = predict_batch(model, x, rel, idx)
                b = obj.shape[0]
                out[start:start + b] = obj.to(torch.complex64).cpu().numpy()
                start += b
                if on_batch is not None:
                    on_batch(step, total)
    finally:
        if hasattr(model, "train"):
            model.train(was_training)
    if start != G:
        raise RuntimeError(f"prediction produced {start} groups, expected {G}")
    return out

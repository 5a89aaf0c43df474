"""Physics refinement of a stitched reconstruction against the scan's own measured patterns.

Why: the network reconstructs a scan in one pass, but it is trained on other data and returns a
smoothed object; the scan itself still holds the information to sharpen it. Refinement keeps the
scan's probe and positions fixed and adjusts the object's pixels so that the shared forward model
(:func:`ptycho_engine.physics.forward.forward_amplitude`) reproduces the measured amplitudes:

    minimise  mean_n mean_xy ( |F(P * O_n)| - X_n )**2     over the pixels of O (Adam)

The amplitude misfit is the usual choice for Poisson data (robust at low counts, no log of 0).
The start object is first scaled by the least-squares amplitude factor (the network's intensity
gain absorbs the probe scale, so its object need not have the scan's absolute scale). Pixels no
probe lit get no gradient and stay as stitched. Patterns are read one batch at a time, so a
memory-mapped scan stays on disk; memory is the object canvas plus one batch.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..events import CancelToken

#: patterns per refinement batch
DEFAULT_BATCH = 64
#: Adam step as a fraction of the start object's mean lit amplitude
DEFAULT_STEP = 0.03


@dataclass
class RefineResult:
    """The refined object (same frame as the start object) and how the misfit went."""

    object: np.ndarray  # (H, W) complex64
    misfit: list[float] = field(default_factory=list)  # mean amplitude misfit: before, then after each epoch
    scale: float = 1.0  # amplitude factor applied to the start object
    seconds: float = 0.0


def _batches(n: int, batch: int, rng: np.random.Generator | None) -> list[np.ndarray]:
    order = rng.permutation(n) if rng is not None else np.arange(n)
    # sorted within a batch: reading a memory-mapped scan in order is much cheaper
    return [np.sort(order[s:s + batch]) for s in range(0, n, batch)]


def refine_object(obj: np.ndarray, origin_x: float, origin_y: float, diffraction: Any, indices: np.ndarray,
                  positions: np.ndarray, probe: np.ndarray, *, epochs: int, device: str = "cpu",
                  batch_size: int = DEFAULT_BATCH, step: float = DEFAULT_STEP, seed: int = 0,
                  on_epoch: Callable[[int, int, float], None] | None = None,
                  cancel: CancelToken | None = None) -> RefineResult:
    """Refine ``obj`` (canvas pixel [0, 0] at object coordinates origin_x, origin_y) for ``epochs``.

    diffraction: (n, N, N) measured amplitudes (array or memmap), of which rows ``indices`` are
    used, pattern ``indices[k]`` taken at ``positions[k]`` [x, y] in object coordinates.
    on_epoch(epoch, epochs, misfit) is called after each epoch; ``cancel`` is checked every batch.
    """
    import torch

    from ..physics.forward import forward_amplitude
    from ..physics.shifts import extract_patches

    if epochs < 1:
        raise ValueError(f"refine_object: epochs must be >= 1, got {epochs}")
    t0 = time.monotonic()
    idx = np.asarray(indices, dtype=np.int64)
    pos = np.asarray(positions, dtype=np.float64) - np.array([origin_x, origin_y], dtype=np.float64)
    if pos.shape != (len(idx), 2):
        raise ValueError(f"refine_object: positions must be ({len(idx)}, 2) [x, y], got {pos.shape}")
    dev = torch.device(device)
    P = torch.from_numpy(np.ascontiguousarray(probe, dtype=np.complex64)).to(dev)
    N = int(P.shape[-1])
    pos_t = torch.from_numpy(pos).to(dev)

    def measured(rows: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(diffraction[idx[rows]], dtype=np.float32)).to(dev)

    def predicted(o: torch.Tensor, rows: np.ndarray) -> torch.Tensor:
        return forward_amplitude(extract_patches(o, pos_t[rows], N), P)

    batches = _batches(len(idx), batch_size, None)
    start = torch.from_numpy(np.ascontiguousarray(obj, dtype=np.complex64)).to(dev)
    # one pass gives the least-squares amplitude factor s = <A,X>/<A,A> of the start object AND its
    # misfit after scaling, sum (sA - X)^2 = s^2 <A,A> - 2 s <A,X> + <X,X> (summed wide: the terms cancel)
    wide = torch.float32 if dev.type == "mps" else torch.float64  # MPS: no float64
    sums = torch.zeros(3, dtype=wide, device=dev)
    with torch.no_grad():
        for rows in batches:
            A, X = predicted(start, rows).to(wide), measured(rows).to(wide)
            sums += torch.stack([(A * X).sum(), (A * A).sum(), (X * X).sum()])
    ax, aa, xx = (float(v) for v in sums)
    scale = ax / aa if aa > 0 else float("nan")
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError("refine_object: the start object predicts no diffracted intensity; "
                         "nothing to refine from")
    before = max(scale * scale * aa - 2.0 * scale * ax + xx, 0.0) / (len(idx) * N * N)
    start = start * scale

    re = start.real.clone().requires_grad_(True)
    im = start.imag.clone().requires_grad_(True)
    amplitude = start.abs()
    lit = amplitude[amplitude > 0]
    lr = step * (float(lit.mean()) if lit.numel() else 1.0)
    opt = torch.optim.Adam([re, im], lr=lr)
    schedule = _step_schedule(epochs * len(batches))
    rng = np.random.default_rng(seed)
    misfit = [before]
    k = 0
    for epoch in range(1, epochs + 1):
        total, count = 0.0, 0
        for rows in _batches(len(idx), batch_size, rng):
            if cancel is not None:
                cancel.raise_if_cancelled()
            opt.param_groups[0]["lr"] = lr * schedule[k]
            k += 1
            loss = ((predicted(torch.complex(re, im), rows) - measured(rows)) ** 2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(rows)
            count += len(rows)
        misfit.append(total / max(count, 1))  # running mean over the epoch (cheap; no extra pass)
        if on_epoch is not None:
            on_epoch(epoch, epochs, misfit[-1])
    with torch.no_grad():
        out = torch.complex(re, im)
        misfit[-1] = _mean_misfit(lambda r: predicted(out, r), measured, batches)
    return RefineResult(object=out.detach().cpu().numpy().astype(np.complex64), misfit=misfit, scale=scale,
                        seconds=time.monotonic() - t0)


def _step_schedule(total: int) -> np.ndarray:
    """Learning-rate factor per step: linear warm-up over the first 10 %, then cosine decay to 1 %.

    Why: Adam's first steps move every pixel by about the full step size, which would first spoil
    a good start object; the decay lets the object settle at the misfit minimum at the end.
    """
    warm = max(1, total // 10)
    t = np.arange(total, dtype=np.float64)
    decay = 0.01 + 0.99 * 0.5 * (1 + np.cos(np.pi * np.clip((t - warm) / max(1, total - warm), 0, 1)))
    return np.where(t < warm, (t + 1) / warm, decay)


def _mean_misfit(predict: Callable[[np.ndarray], Any], measured: Callable[[np.ndarray], Any],
                 batches: list[np.ndarray]) -> float:
    total, count = 0.0, 0
    for rows in batches:
        total += float(((predict(rows) - measured(rows)) ** 2).mean()) * len(rows)
        count += len(rows)
    return total / max(count, 1)

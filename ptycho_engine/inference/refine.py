"""Physics refinement of a stitched reconstruction against the scan's own measured patterns.

Why: the network reconstructs a scan in one pass, but it is trained on other data; the scan itself
still holds the information to sharpen it, and on real data the probe and the positions are never
known exactly. Refinement fits the object (and, when asked, the probe with optional incoherent
modes, and each scan position) so that the shared forward model reproduces the measured patterns.

Each mini-batch of patterns (see :mod:`.refine_steps`): corrected exit waves from the measured
amplitudes (Gaussian-amplitude or Poisson noise model), an object direction normalised by the
batch's illumination (rPIE-damped), a probe direction normalised by the object power it saw, one
least-squares step length for both (LSQML-style), and per-pattern least-squares position shifts.
After each pass the mean position shift is removed (the scan cannot drift as a whole) and the
probe modes are orthogonalised.

Stopping: after ``max_passes`` passes, or earlier when the mean amplitude misfit changed by less
than ``tolerance`` (relative) in two consecutive passes; the reason is returned. The start object
is first scaled by the least-squares amplitude factor (the network's intensity gain absorbs the
probe scale). Pixels no probe lit are not changed. Patterns are read one batch at a time, so a
memory-mapped scan stays on disk; memory is the object canvas plus one batch.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..events import CancelToken
from .canvas_ops import footprint, gather, splat
from .refine_steps import (NOISE_MODELS, counts_scale, damped_ratio, exit_wave_correction, joint_step,
                           position_shifts)

#: patterns per refinement batch (smaller: more updates per pass, converges in fewer passes), and
#: at least MIN_UPDATES batches per pass (a sparse scan of 64 patterns gets batches of 16) ...
DEFAULT_BATCH = 32
MIN_UPDATES = 4
#: rPIE damping of weakly lit pixels, as a fraction of the brightest illumination of a batch
DEFAULT_ALPHA = 0.05
#: ... but photon-limited scans (fewer than NOISY_PHOTONS photons per pattern) need batches that
#: average more patterns and stronger damping, or each update imprints the noise of the few
#: patterns it saw (benchmarks/results/2026-12-02_vm-2cpu_refinement.md)
NOISY_PHOTONS = 1e5
NOISY_BATCH = 64
NOISY_ALPHA = 0.1
#: relative misfit change per pass below which refinement counts as converged (0: never)
DEFAULT_TOLERANCE = 1e-3
#: passes in a row under the tolerance before stopping
CONVERGED_PASSES = 2
#: the probe moves from this pass on (the object gets a first pass alone)
PROBE_START_PASS = 2
#: positions move from this pass on, at most this many pixels per update
POSITION_START_PASS = 3
MAX_POSITION_STEP = 0.25
#: power of each extra probe mode at the start, relative to the main mode
EXTRA_MODE_POWER = 0.05


@dataclass
class RefineResult:
    """What refinement made and how it went."""

    object: np.ndarray  # (H, W) complex64, same frame as the start object
    misfit: list[float] = field(default_factory=list)  # mean amplitude misfit: before, then each pass
    scale: float = 1.0  # amplitude factor applied to the start object
    seconds: float = 0.0
    passes: int = 0
    stop_reason: str = ""
    probe: np.ndarray | None = None  # (K, N, N) complex64 when the probe was refined
    positions: np.ndarray | None = None  # (n, 2) [x, y] object coordinates when positions were refined


def _batches(n: int, batch: int, rng: np.random.Generator | None) -> list[np.ndarray]:
    order = rng.permutation(n) if rng is not None else np.arange(n)
    # sorted within a batch: reading a memory-mapped scan in order is much cheaper
    return [np.sort(order[s:s + batch]) for s in range(0, n, batch)]


def initial_probe_modes(probe: np.ndarray, modes: int) -> np.ndarray:
    """(modes, N, N): the probe, then weak orthogonal variants (phase ramps) to start extra modes."""
    P = np.asarray(probe, dtype=np.complex128)
    if P.ndim == 2:
        P = P[None]
    if modes <= P.shape[0]:
        return P[:modes].astype(np.complex64)
    N = P.shape[-1]
    yy, xx = (np.mgrid[:N, :N] - N / 2) / N
    ramps = [xx, yy, xx * yy, xx ** 2 - yy ** 2]
    power = float(np.sum(np.abs(P[0]) ** 2))
    out = list(P)
    for k in range(modes - len(out)):
        extra = P[0] * (ramps[k % len(ramps)] + 0.3 * (k // len(ramps)))
        out.append(extra * math.sqrt(EXTRA_MODE_POWER * power / max(float(np.sum(np.abs(extra) ** 2)), 1e-30)))
    return orthogonal_modes(np.stack(out)).astype(np.complex64)


def orthogonal_modes(P: Any) -> Any:
    """Orthogonalise incoherent probe modes (K, N, N), strongest first; the intensity is unchanged.

    Why: the measured intensity is the sum over modes, so any unitary mix of the modes fits
    equally well; the SVD picks the mix with orthogonal modes ordered by power.
    """
    import torch

    t = torch.as_tensor(P)
    K, N = t.shape[0], t.shape[-1]
    _, S, Vh = torch.linalg.svd(t.reshape(K, N * N), full_matrices=False)
    out = (S.to(t.dtype)[:, None] * Vh).reshape(K, N, N)
    return out.numpy() if isinstance(P, np.ndarray) else out


def refine_object(obj: np.ndarray, origin_x: float, origin_y: float, diffraction: Any, indices: np.ndarray,
                  positions: np.ndarray, probe: np.ndarray, *, epochs: int, device: str = "cpu",
                  batch_size: int | None = None, seed: int = 0, bad_pixels: np.ndarray | None = None,
                  noise_model: str = "amplitude",
                  tolerance: float = DEFAULT_TOLERANCE, refine_probe: bool = False, probe_modes: int = 1,
                  refine_positions: bool = False, alpha: float | None = None,
                  on_epoch: Callable[[int, int, float], None] | None = None,
                  cancel: CancelToken | None = None) -> RefineResult:
    """Refine ``obj`` (canvas pixel [0, 0] at object coordinates origin_x, origin_y), at most ``epochs`` passes.

    diffraction: (n, N, N) measured amplitudes (array or memmap), of which rows ``indices`` are
    used, pattern ``indices[k]`` taken at ``positions[k]`` [x, y] in object coordinates.
    batch_size / alpha None: chosen from the data (DEFAULT_BATCH / DEFAULT_ALPHA, or NOISY_BATCH /
    NOISY_ALPHA when the patterns are counts of fewer than NOISY_PHOTONS photons each).
    bad_pixels (N, N) bool: detector pixels left out of the fit.
    on_epoch(pass, max_passes, misfit) is called after each pass; ``cancel`` is checked every batch.
    """
    import torch

    if epochs < 1:
        raise ValueError(f"refine_object: epochs must be >= 1, got {epochs}")
    if probe_modes < 1:
        raise ValueError(f"refine_object: probe_modes must be >= 1, got {probe_modes}")
    if noise_model not in NOISE_MODELS:
        raise ValueError(f"refine_object: noise model must be one of {NOISE_MODELS}, got {noise_model!r}")
    t0 = time.monotonic()
    idx = np.asarray(indices, dtype=np.int64)
    origin = np.array([origin_x, origin_y], dtype=np.float64)
    pos0_np = np.asarray(positions, dtype=np.float64) - origin
    if pos0_np.shape != (len(idx), 2):
        raise ValueError(f"refine_object: positions must be ({len(idx)}, 2) [x, y], got {pos0_np.shape}")
    dev = torch.device(device)
    modes = probe_modes if refine_probe else 1
    P = torch.from_numpy(initial_probe_modes(probe, modes)).to(dev)
    N = int(P.shape[-1])
    pos0 = torch.from_numpy(pos0_np).to(dev)
    pos = pos0.clone()

    def measured(rows: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(diffraction[idx[rows]], dtype=np.float32)).to(dev)

    first = np.asarray(diffraction[idx[:min(len(idx), DEFAULT_BATCH)]], dtype=np.float64)
    s_counts = counts_scale(first)
    photons = float(np.mean(np.sum((first * s_counts) ** 2, axis=(-2, -1)))) if s_counts else None
    noisy = photons is not None and photons < NOISY_PHOTONS
    if batch_size is None:
        batch_size = NOISY_BATCH if noisy else min(DEFAULT_BATCH, max(8, len(idx) // MIN_UPDATES))
    if alpha is None:
        alpha = NOISY_ALPHA if noisy else DEFAULT_ALPHA
    good = None if bad_pixels is None else torch.from_numpy(~np.asarray(bad_pixels, dtype=bool)).to(dev)
    batches = _batches(len(idx), batch_size, None)
    O = torch.from_numpy(np.ascontiguousarray(obj, dtype=np.complex64)).to(dev).contiguous()
    scale, before = _start_scale(O, P, pos, batches, measured, N, good)
    O = O * scale

    rng = np.random.default_rng(seed)
    misfit = [before]
    stop_reason = f"reached the cap of {epochs} passes"
    quiet = 0
    state = _State(O=O, P=P, pos=pos, N=N, alpha=alpha, noise_model=noise_model, photon_scale=s_counts, good=good)
    with torch.no_grad():
        for p in range(1, epochs + 1):
            move_probe = refine_probe and p >= PROBE_START_PASS
            move_positions = refine_positions and p >= POSITION_START_PASS
            total, count = 0.0, 0
            for rows in _batches(len(idx), batch_size, rng):
                if cancel is not None:
                    cancel.raise_if_cancelled()
                total += _update(state, rows, measured(rows), move_probe, move_positions)
                count += len(rows)
            if move_positions:
                state.pos -= (state.pos - pos0).mean(dim=0)  # the scan cannot drift as a whole
            if move_probe and modes > 1:
                state.P = orthogonal_modes(state.P)
            misfit.append(total / max(count, 1))  # running mean over the pass (no extra pass)
            if on_epoch is not None:
                on_epoch(p, epochs, misfit[-1])
            change = (misfit[-2] - misfit[-1]) / max(misfit[-2], 1e-30)
            quiet = quiet + 1 if change < tolerance else 0
            if tolerance > 0 and quiet >= CONVERGED_PASSES:
                stop_reason = (f"converged after {p} passes: the misfit changed by less than {tolerance:g} "
                               f"(relative) in {CONVERGED_PASSES} passes in a row")
                break
        O, P, pos = state.O, state.P, state.pos
        final = _mean_misfit(O, P, pos, batches, measured, N, good)
    misfit[-1] = final
    return RefineResult(
        object=O.cpu().numpy().astype(np.complex64), misfit=misfit, scale=scale,
        seconds=time.monotonic() - t0, passes=len(misfit) - 1, stop_reason=stop_reason,
        probe=P.cpu().numpy().astype(np.complex64) if refine_probe else None,
        positions=(pos.cpu().numpy() + origin) if refine_positions else None)


@dataclass
class _State:
    """What one refinement updates in place, its work buffers, and the fixed settings of its updates."""

    O: Any  # (H, W) complex object canvas (contiguous: updated through a flat view)
    P: Any  # (K, N, N) complex probe modes
    pos: Any  # (n, 2) float64 [x, y] canvas positions
    N: int
    alpha: float
    noise_model: str
    photon_scale: float | None
    good: Any  # (N, N) bool detector pixels to use, or None
    num: Any = None  # flat canvas buffers, zero between batches
    power: Any = None
    step: Any = None

    def __post_init__(self) -> None:
        import torch

        self.num = torch.zeros(self.O.numel(), dtype=self.O.dtype, device=self.O.device)
        self.power = torch.zeros(self.O.numel(), dtype=self.O.real.dtype, device=self.O.device)
        self.step = torch.zeros_like(self.num)


def _update(st: _State, rows: np.ndarray, measured: Any, move_probe: bool, move_positions: bool) -> float:
    """One mini-batch update of the object (and probe / positions); returns the batch's summed misfit.

    Costs O(batch · N²): the canvas is only read and written where the batch's patches lie.
    """
    import torch

    r = torch.from_numpy(rows).to(st.O.device)
    fp = footprint(st.pos[r], st.N, tuple(st.O.shape))
    flat = st.O.view(-1)
    patch = gather(flat, fp)                                                        # (B, N, N)
    chi, mis, floor = exit_wave_correction(st.P.unsqueeze(0) * patch.unsqueeze(1), measured, st.noise_model,
                                           st.photon_scale, st.good)
    # discrepancy principle: a batch that already fits to its Poisson noise floor moves less
    damp = max(0.0, 1.0 - float(floor.sum()) / max(float(mis.sum()), 1e-30))
    splat((st.P.conj().unsqueeze(0) * chi).sum(1), fp, st.num)
    splat((st.P.abs() ** 2).sum(0).expand(len(rows), st.N, st.N), fp, st.power)
    # every canvas pixel the batch covers (with repeats: reads and writes of a repeated pixel carry
    # the same value, so no sort to make them unique is needed)
    touched = fp.touched
    dO = damped_ratio(st.num[touched], st.power[touched], st.alpha)
    st.step[touched] = dO
    directions = [st.P.unsqueeze(0) * gather(st.step, fp).unsqueeze(1)]
    if move_probe:
        dP = damped_ratio((patch.conj().unsqueeze(1) * chi).sum(0), (patch.abs() ** 2).sum(0), st.alpha)
        directions.append(dP.unsqueeze(0) * patch.unsqueeze(1))
    steps = [damp * b for b in joint_step(chi, directions)]
    if move_positions:
        st.pos[r] += damp * position_shifts(chi, st.P, patch, MAX_POSITION_STEP).to(st.pos.dtype)
    flat[touched] += steps[0] * dO
    if move_probe:
        st.P += steps[1] * dP
    for buffer in (st.num, st.power, st.step):
        buffer.index_fill_(0, touched, 0)
    return float(mis.sum())


def _start_scale(O: Any, P: Any, pos: Any, batches: list[np.ndarray], measured: Callable[[np.ndarray], Any],
                 N: int, good: Any = None) -> tuple[float, float]:
    """Least-squares amplitude factor s = <A,X>/<A,A> of the start object, and its misfit after scaling.

    One pass: sum (sA - X)^2 = s^2 <A,A> - 2 s <A,X> + <X,X> (summed wide: the terms cancel).
    """
    import torch

    wide = torch.float32 if O.device.type == "mps" else torch.float64  # MPS: no float64
    sums = torch.zeros(3, dtype=wide, device=O.device)
    with torch.no_grad():
        for rows in batches:
            A = _model_amplitude(O, P, pos, rows, N).to(wide)
            X = measured(rows).to(wide)
            if good is not None:
                A, X = A * good, X * good
            sums += torch.stack([(A * X).sum(), (A * A).sum(), (X * X).sum()])
    ax, aa, xx = (float(v) for v in sums)
    scale = ax / aa if aa > 0 else float("nan")
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError("refine_object: the start object predicts no diffracted intensity; "
                         "nothing to refine from")
    n = sum(len(b) for b in batches) * (N * N if good is None else max(int(good.sum()), 1))
    return scale, max(scale * scale * aa - 2.0 * scale * ax + xx, 0.0) / n


def _model_amplitude(O: Any, P: Any, pos: Any, rows: np.ndarray, N: int) -> Any:
    import torch

    from .refine_steps import far_field

    r = torch.from_numpy(rows).to(O.device)
    patches = gather(O.reshape(-1), footprint(pos[r], N, tuple(O.shape)))
    F = far_field(P.unsqueeze(0) * patches.unsqueeze(1))
    return torch.sqrt((F.real ** 2 + F.imag ** 2).sum(dim=1))


def _mean_misfit(O: Any, P: Any, pos: Any, batches: list[np.ndarray], measured: Callable[[np.ndarray], Any],
                 N: int, good: Any = None) -> float:
    total, count = 0.0, 0
    for rows in batches:
        sq = (_model_amplitude(O, P, pos, rows, N) - measured(rows)) ** 2
        total += float(sq.mean() if good is None else (sq * good).sum() / (len(rows) * max(int(good.sum()), 1))) * len(rows)
        count += len(rows)
    return total / max(count, 1)

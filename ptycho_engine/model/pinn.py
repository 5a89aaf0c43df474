"""PtychoPINN: diffraction amplitudes -> CNN -> complex object patches -> forward model -> amplitudes.

The network sees statistically normalised inputs (``input_scale * X``, facts §1.2 item 1: after it
the mean per-pattern energy is (N/2)^2); the scale is computed once from the training patterns
and stored as a buffer, so it travels with the weights. The physics uses the file's probe and
the shared PHYSICS forward model, then multiplies by a global gain ``exp(log_gain)``. The gain is
a registered ``nn.Parameter`` (trainable iff ``intensity_scale_trainable``; the reference's torch
scale was never registered, bug §8.16) and is calibrated before training so the first predicted
amplitudes have the data's energy. ``counts_scale`` (s^2 = nphotons / mean sum X^2) is a buffer too:
the Poisson loss needs it and an archive must reproduce it.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from ..physics.forward import diffraction_amplitude, gaussian_smooth, illuminate, probe_mask
from .generators import LEGACY_GENERATOR, build_generator

#: ModelConfig fields that define the architecture (saved in archives, checked on load)
ARCH_FIELDS = ("N", "gridsize", "n_filters_scale", "amp_activation", "object_big", "probe_big",
               "pad_object", "probe_mask", "gaussian_smoothing_sigma", "generator", "unroll_steps")


def input_scale_from_data(diffraction: np.ndarray, N: int, indices: np.ndarray | None = None) -> float:
    """a = sqrt((N/2)^2 / mean_n sum_xy X^2), in float64 (uint16 squares would wrap, §8.6).

    ``indices`` (sorted) restricts the statistics to those patterns without copying them out of
    a memory-mapped scan.
    """
    energy = _mean_energy(diffraction, indices)
    return math.sqrt((N / 2) ** 2 / energy)


def counts_scale_from_data(diffraction: np.ndarray, nphotons: float, indices: np.ndarray | None = None) -> float:
    """s^2 = nphotons / mean_n sum_xy X^2: turns stored amplitudes into photon counts k = s^2 X^2."""
    if not nphotons or nphotons <= 0:
        raise ValueError(f"nphotons must be > 0, got {nphotons}")
    return float(nphotons) / _mean_energy(diffraction, indices)


def _mean_energy(diffraction: np.ndarray, indices: np.ndarray | None = None, chunk: int = 512) -> float:
    total, n = 0.0, 0
    count = len(diffraction) if indices is None else len(indices)
    for i in range(0, count, chunk):
        sel = slice(i, i + chunk) if indices is None else indices[i:i + chunk]
        block = np.asarray(diffraction[sel], dtype=np.float64)
        total += float((block ** 2).sum())
        n += len(block)
    energy = total / max(n, 1)
    if not (energy > 0 and math.isfinite(energy)):
        raise ValueError(f"diffraction data have no energy (mean sum X^2 = {energy}); cannot normalise")
    return energy


class PtychoPINN(nn.Module):
    """Physics-informed autoencoder. ``forward(x, rel) -> predicted amplitude (B, C, N, N)``.

    ``x``: measured amplitudes (B, C, N, N) in the file's units; ``rel``: (B, C, 2) [x, y] offsets of
    each channel's position from the group centre (used when ``object_big`` merges the C patches
    into one shared object canvas).
    """

    def __init__(self, probe: np.ndarray | torch.Tensor, *, N: int = 64, gridsize: int = 1,
                 n_filters_scale: int = 2, amp_activation: str = "sigmoid", object_big: bool = True,
                 probe_big: bool = True, pad_object: bool = True, probe_mask: bool = False,
                 gaussian_smoothing_sigma: float = 0.0, probe_trainable: bool = False,
                 intensity_scale_trainable: bool = True, input_scale: float = 1.0,
                 counts_scale: float = 1.0, log_gain: float = 0.0, generator: str = LEGACY_GENERATOR,
                 unroll_steps: int = 10) -> None:
        super().__init__()
        probe_t = torch.as_tensor(np.asarray(probe) if not isinstance(probe, torch.Tensor) else probe)
        if probe_t.shape != (N, N):
            raise ValueError(f"probe shape {tuple(probe_t.shape)} does not match N={N}")
        self.N, self.gridsize, self.C = int(N), int(gridsize), int(gridsize) ** 2
        self.object_big = bool(object_big) and self.C > 1
        self.smoothing_sigma = float(gaussian_smoothing_sigma or 0.0)
        self.arch = dict(N=int(N), gridsize=int(gridsize), n_filters_scale=int(n_filters_scale),
                         amp_activation=str(amp_activation), object_big=bool(object_big),
                         probe_big=bool(probe_big), pad_object=bool(pad_object), probe_mask=bool(probe_mask),
                         gaussian_smoothing_sigma=self.smoothing_sigma, generator=str(generator))
        if generator == "unrolled":
            self.arch["unroll_steps"] = int(unroll_steps)
            if self.smoothing_sigma > 0:
                raise ValueError("generator 'unrolled' does not model gaussian_smoothing_sigma > 0 (its updates "
                                 "assume the unsmoothed exit wave); set gaussian_smoothing_sigma = 0 or use "
                                 "generator 'cnn'")
        self.generator = build_generator(str(generator), unroll_steps=int(unroll_steps), N=N, gridsize=gridsize,
                                         n_filters_scale=n_filters_scale, amp_activation=amp_activation,
                                         pad_object=pad_object, probe_big=probe_big)
        # the probe as a real (N, N, 2) tensor: Adam, clipping, DDP and h5py all handle it plainly
        probe_ri = torch.view_as_real(probe_t.to(torch.complex64)).clone()
        self.probe_ri = nn.Parameter(probe_ri, requires_grad=bool(probe_trainable))
        self.log_gain = nn.Parameter(torch.tensor(float(log_gain)), requires_grad=bool(intensity_scale_trainable))
        self.register_buffer("input_scale", torch.tensor(float(input_scale)))
        self.register_buffer("counts_scale", torch.tensor(float(counts_scale)))
        if probe_mask:
            self.register_buffer("mask", _probe_mask(N), persistent=False)
        else:
            self.mask = None
        # merge weights: with pad_object the object lives on the central N/2 square, so only that
        # square votes on the shared canvas; probe_big (or no padding) makes the whole patch count
        if self.object_big and pad_object and not probe_big:
            from ..physics.groups import central_support

            self.register_buffer("support", central_support(N), persistent=False)
        else:
            self.support = None

    # ------------------------------------------------------------------ construction helpers
    @classmethod
    def from_config(cls, model_cfg: Any, training_cfg: Any, probe: np.ndarray | torch.Tensor,
                    **scales: float) -> "PtychoPINN":
        """Build from canonical ModelConfig / TrainingConfig objects or their dicts."""
        m, t = _as_mapping(model_cfg), _as_mapping(training_cfg)
        kwargs = {k: m[k] for k in ARCH_FIELDS if k in m and m[k] is not None}
        for k in ("probe_trainable", "intensity_scale_trainable"):
            if k in t and t[k] is not None:
                kwargs[k] = bool(t[k])
        return cls(probe, **kwargs, **scales)

    @property
    def probe(self) -> torch.Tensor:
        """The (possibly trained) probe, complex (N, N)."""
        return torch.view_as_complex(self.probe_ri.float().contiguous())

    @property
    def gain(self) -> float:
        return float(torch.exp(self.log_gain.detach()))

    # ------------------------------------------------------------------ forward paths
    def predict_object(self, x: torch.Tensor, rel: torch.Tensor | None = None,
                       probe: torch.Tensor | None = None) -> torch.Tensor:
        """Complex object patches (B, C, N, N) for measured amplitudes ``x`` (inference).

        A generator with a ``refine`` stage (the unrolled one) then updates them against ``x``
        itself, in object units (x / gain), with the model's or the per-item ``probe``.
        """
        obj = self._network_object(x)
        refine = getattr(self.generator, "refine", None)
        if refine is None:
            return obj
        with torch.autocast(device_type=x.device.type, enabled=False):
            measured = x.float() / torch.exp(self.log_gain.float())
            P = self._probe_for(obj, probe)
            if self.mask is not None:  # the physics illuminates with the masked probe
                P = P * self.mask.to(device=P.device, dtype=P.real.dtype)
            return refine(obj, measured, rel, P, self.support, self.gridsize)

    def _network_object(self, x: torch.Tensor) -> torch.Tensor:
        """The generator's own object patches, before any physics stage."""
        amp, phase = self.generator(x * self.input_scale)
        return torch.polar(amp.float(), phase.float())

    def _probe_for(self, obj: torch.Tensor, probe: torch.Tensor | None) -> torch.Tensor:
        """The model's probe (N, N), or per-item probes (B, N, N) as (B, 1, N, N) for broadcasting."""
        if probe is None:
            return self.probe
        if probe.ndim != 3 or probe.shape[0] != obj.shape[0] or tuple(probe.shape[-2:]) != (self.N, self.N):
            raise ValueError(f"per-item probe must be (B, N, N) = ({obj.shape[0]}, {self.N}, {self.N}), "
                             f"got {tuple(probe.shape)}")
        return probe.to(device=obj.device, dtype=torch.complex64)[:, None]

    def forward_with_object(self, x: torch.Tensor, rel: torch.Tensor | None = None,
                            probe: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(predicted amplitude (B, C, N, N), object patches (B, C, N, N)) for one batch.

        ``probe``: optional per-item probes (B, N, N) complex, for batches that mix scans taken
        with different probes; None uses the model's own probe.
        """
        obj = self.predict_object(x, rel, probe)
        with torch.autocast(device_type=x.device.type, enabled=False):
            pred = self._physics(obj, rel, probe)
        return pred, obj

    def forward(self, x: torch.Tensor, rel: torch.Tensor | None = None,
                probe: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward_with_object(x, rel, probe)[0]

    def _physics(self, obj: torch.Tensor, rel: torch.Tensor | None,
                 probe: torch.Tensor | None = None) -> torch.Tensor:
        # an unrolled generator's patches are already cut from one canvas per group: merging them
        # again would only cut away what its updates filled outside the central support
        if self.object_big and not hasattr(self.generator, "refine"):
            if rel is None:
                raise ValueError("object_big with gridsize > 1 needs the group offsets `rel` (B, C, 2)")
            from ..physics.groups import canvas_size, merge_group, split_group

            rel = rel.to(device=obj.device, dtype=torch.float32)
            M = canvas_size(self.N, self.gridsize, float(rel.detach().abs().max()))
            obj = split_group(merge_group(obj, rel, M, support_mask=self.support), rel, self.N)
        probe = self._probe_for(obj, probe)  # one probe per item is shared by the item's C channels
        psi = gaussian_smooth(illuminate(obj, probe, self.mask), self.smoothing_sigma)
        return diffraction_amplitude(psi) * torch.exp(self.log_gain.float())

    @torch.no_grad()
    def calibrate_gain(self, x: torch.Tensor, rel: torch.Tensor | None = None,
                       probe: torch.Tensor | None = None) -> float:
        """Set log_gain so mean sum Â^2 equals mean sum X^2 on this batch; returns the new log_gain.

        Why: the network's first objects (sigmoid ~0.5 on the support) and an arbitrary probe
        normalisation would otherwise start the counts orders of magnitude off. ``probe``
        (B, N, N) calibrates against another scan's probe (see ``forward``).
        """
        was_training = self.training
        self.eval()
        self.log_gain.zero_()
        # the network's own object: the unrolled stage would pull any start onto x / gain itself
        pred = self._physics(self._network_object(x), rel, probe).double()
        self.train(was_training)
        e_pred = float(pred.square().sum((-2, -1)).mean())
        e_obs = float(x.double().square().sum((-2, -1)).mean())
        value = 0.5 * math.log(e_obs / e_pred) if e_pred > 0 and e_obs > 0 else 0.0
        self.log_gain.fill_(value)
        return value


def _probe_mask(N: int) -> torch.Tensor:
    return probe_mask(N)


def _as_mapping(cfg: Any) -> Mapping[str, Any]:
    if cfg is None:
        return {}
    if isinstance(cfg, Mapping):
        return cfg
    import dataclasses

    if dataclasses.is_dataclass(cfg):
        return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}
    return vars(cfg)

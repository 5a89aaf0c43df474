"""PtychoPINN on TensorFlow: Keras CNN -> complex patches -> (object_big merge) -> far field * gain.

Built from the engine's PyTorch :class:`~ptycho_engine.model.pinn.PtychoPINN` (:meth:`TFPinn.
from_torch`): that object is the engine's model description (architecture fields, probe,
calibrated gain, input and counts scales, initial weights) and its archive container, so both
backends build the same model from the same configuration and start from the same weights.
The maths then runs in TensorFlow only.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import check_generator
from .convert import load_torch_state
from .network import build_generator
from .physics import diffraction_amplitude, merge_group, polar, split_group
from .runtime import import_tf


class TFPinn:
    """``forward_with_object(x, rel, M) -> (predicted amplitude, object patches)``, all (B, C, N, N).

    ``M`` is the object_big canvas side (a Python int, so a compiled step is traced once per
    size; see :meth:`canvas_for`). Trainable: the CNN, ``log_gain`` (when
    ``intensity_scale_trainable``) and ``probe_ri`` (when ``probe_trainable``).
    """

    def __init__(self, arch: dict[str, Any], probe_ri: np.ndarray, *, log_gain: float, input_scale: float,
                 counts_scale: float, object_big: bool, support: np.ndarray | None, mask: np.ndarray | None,
                 probe_trainable: bool, intensity_scale_trainable: bool) -> None:
        tf = import_tf()
        check_generator(arch.get("generator", "cnn"))
        if float(arch.get("gaussian_smoothing_sigma") or 0.0) > 0:
            raise ValueError("gaussian_smoothing_sigma > 0 is not implemented on the TensorFlow backend; "
                             "set it to 0 or use backend = 'pytorch'")
        self.arch = dict(arch)
        self.N, self.gridsize = int(arch["N"]), int(arch["gridsize"])
        self.C = self.gridsize ** 2
        self.object_big, self.support, self.mask = bool(object_big), support, mask
        self.generator = build_generator(N=self.N, gridsize=self.gridsize,
                                         n_filters_scale=int(arch["n_filters_scale"]),
                                         amp_activation=str(arch["amp_activation"]),
                                         pad_object=bool(arch["pad_object"]), probe_big=bool(arch["probe_big"]))
        self.probe_ri = tf.Variable(np.asarray(probe_ri, np.float32), trainable=bool(probe_trainable), name="probe_ri")
        self.log_gain = tf.Variable(np.float32(log_gain), trainable=bool(intensity_scale_trainable), name="log_gain")
        #: the unrolled generator's learned step sizes (None for the plain CNN)
        self.unrolled = arch.get("generator", "cnn") == "unrolled"
        self.step_sizes = tf.Variable(np.ones(int(arch.get("unroll_steps", 10)), np.float32), name="step_sizes") \
            if self.unrolled else None
        self.input_scale = float(input_scale)
        self.counts_scale = float(counts_scale)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_torch(cls, pinn: Any) -> "TFPinn":
        """The same model as the PyTorch ``pinn`` (architecture, weights, probe, gain, scales)."""
        support = None if getattr(pinn, "support", None) is None else pinn.support.detach().cpu().numpy()
        mask = None if getattr(pinn, "mask", None) is None else pinn.mask.detach().cpu().numpy()
        model = cls(pinn.arch, pinn.probe_ri.detach().cpu().numpy(), log_gain=float(pinn.log_gain.detach()),
                    input_scale=float(pinn.input_scale), counts_scale=float(pinn.counts_scale),
                    object_big=pinn.object_big, support=support, mask=mask,
                    probe_trainable=bool(pinn.probe_ri.requires_grad),
                    intensity_scale_trainable=bool(pinn.log_gain.requires_grad))
        load_torch_state(model, {k: v.detach().cpu().numpy() for k, v in pinn.state_dict().items()})
        return model

    @property
    def trainable_variables(self) -> list[Any]:
        extra = [v for v in (self.step_sizes, self.probe_ri, self.log_gain) if v is not None and v.trainable]
        return list(self.generator.trainable_variables) + extra

    @property
    def gain(self) -> float:
        return float(np.exp(self.log_gain.numpy()))

    def probe(self) -> Any:
        tf = import_tf()
        return tf.complex(self.probe_ri[..., 0], self.probe_ri[..., 1])

    def canvas_for(self, rel: np.ndarray) -> int:
        """Canvas side M for groups with offsets ``rel`` (any shape ending in 2); N without object_big.

        Any M that holds every patch gives the same result (outside the patches the canvas is 0),
        so a run uses one M for all its batches.
        """
        if self.C == 1 or not (self.object_big or self.unrolled):
            return self.N
        from ..physics.groups import canvas_size

        return canvas_size(self.N, self.gridsize, float(np.abs(np.asarray(rel)).max(initial=0.0)))

    # ------------------------------------------------------------------ forward paths
    def network_object(self, x: Any, training: bool = False) -> Any:
        """The CNN's complex object patches (B, C, N, N), before any physics stage."""
        amp, phase = self.generator(x * self.input_scale, training=training)
        return polar(amp, phase)

    def masked_probe(self) -> Any:
        tf = import_tf()
        P = self.probe()
        return P if self.mask is None else P * tf.complex(tf.constant(self.mask, tf.float32), 0.0)

    def predict_object(self, x: Any, rel: Any = None, training: bool = False, M: int | None = None) -> Any:
        """Complex object patches (B, C, N, N) of measured amplitudes ``x`` (the unrolled generator
        then updates them against ``x`` itself, in object units x / gain; it needs ``M``)."""
        obj = self.network_object(x, training=training)
        if not self.unrolled:
            return obj
        tf = import_tf()
        from .unrolled import projection_steps

        measured = x / tf.exp(self.log_gain)
        return projection_steps(obj, measured, rel, self.masked_probe(), self.step_sizes, self.support,
                                M if M is not None else self.N)

    def physics(self, obj: Any, rel: Any, M: int) -> Any:
        """Predicted far-field amplitudes of object patches (merged per group with object_big)."""
        tf = import_tf()
        if self.object_big and not self.unrolled:  # unrolled patches already share one canvas per group
            if rel is None:
                raise ValueError("object_big with gridsize > 1 needs the group offsets `rel` (B, C, 2)")
            obj = split_group(merge_group(obj, rel, M, self.support), rel, self.N)
        return diffraction_amplitude(obj * self.masked_probe()) * tf.exp(self.log_gain)

    def forward_with_object(self, x: Any, rel: Any, M: int, training: bool = False) -> tuple[Any, Any]:
        obj = self.predict_object(x, rel, training=training, M=M)
        return self.physics(obj, rel, M), obj

"""The training loss in TensorFlow: the terms of :mod:`ptycho_engine.model.loss` (Poisson NLL in
counts minus its saturated value, MAE on normalised amplitudes, TV), with the same
:class:`~ptycho_engine.model.loss.LossWeights`."""
from __future__ import annotations

from typing import Any

from ..model.loss import RATE_FLOOR, LossWeights, weighted_terms
from .runtime import import_tf


def poisson_nll(pred: Any, obs: Any, counts_scale: float) -> Any:
    tf = import_tf()
    lam = tf.maximum(counts_scale * tf.square(pred), RATE_FLOOR)
    k = counts_scale * tf.square(obs)
    return tf.reduce_mean(lam - k + tf.math.xlogy(k, k) - tf.math.xlogy(k, lam))


def amplitude_mae(pred: Any, obs: Any, scale: float = 1.0) -> Any:
    tf = import_tf()
    return tf.reduce_mean(tf.abs(scale * (pred - obs)))


def total_variation(obj: Any) -> Any:
    tf = import_tf()
    ri = tf.stack([tf.math.real(obj), tf.math.imag(obj)], axis=-1)
    dy = tf.reduce_mean(tf.square(ri[..., 1:, :, :] - ri[..., :-1, :, :]))
    dx = tf.reduce_mean(tf.square(ri[..., :, 1:, :] - ri[..., :, :-1, :]))
    return dx + dy


def compute_loss(pred: Any, obs: Any, counts_scale: float, input_scale: float, weights: LossWeights,
                 obj: Any = None) -> dict[str, Any]:
    """Every term plus ``loss`` (the optimised total), as ``model.loss.compute_loss`` (same rule)."""
    tf = import_tf()
    return weighted_terms(weights, lambda: poisson_nll(pred, obs, counts_scale),
                          lambda: amplitude_mae(pred, obs, input_scale),
                          None if obj is None else (lambda: total_variation(obj)), tf.zeros((), tf.float32))

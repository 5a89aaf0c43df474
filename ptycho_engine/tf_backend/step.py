"""One optimiser step on TensorFlow, comparable with the PyTorch engine's.

Adam: the PyTorch engine uses ``torch.optim.Adam(lr, betas=(0.9, 0.999), eps=1e-8)``. Keras'
Adam adds its epsilon to sqrt(v) *before* bias correction, i.e. its effective epsilon at step t
is epsilon / sqrt(1 - beta_2**t). With ``epsilon = 1e-8 * sqrt(1 - beta_2)`` the first step is
the PyTorch step exactly (and later ones differ only by an epsilon of 3e-10..1e-8 next to
sqrt(v)). Initial weights are PyTorch's (He-normal convolutions, heads scaled by 0.1), copied
into Keras by :mod:`.convert`, so with the same seed both backends start from the same point.

``PTYCHO_TF_XLA=1`` compiles the steps with XLA (``jit_compile``): off by default, since on two
CPU cores it cost ~15 s of compilation for no clear gain (benchmarks/backend_throughput.py).
"""
from __future__ import annotations

import math
import os
from typing import Any, Callable

from ..model.loss import LossWeights
from .loss import compute_loss
from .runtime import import_tf, keras

BETA_1, BETA_2 = 0.9, 0.999
TORCH_ADAM_EPS = 1e-8
#: Keras epsilon that makes Keras' first Adam step equal torch's (see the module docstring)
KERAS_ADAM_EPS = TORCH_ADAM_EPS * math.sqrt(1.0 - BETA_2)


def make_optimizer(learning_rate: float, torch_epsilon: float = TORCH_ADAM_EPS) -> Any:
    """Keras Adam matched to ``torch.optim.Adam(lr, eps=torch_epsilon)`` (module docstring)."""
    return keras().optimizers.Adam(learning_rate=float(learning_rate), beta_1=BETA_1, beta_2=BETA_2,
                                   epsilon=float(torch_epsilon) * math.sqrt(1.0 - BETA_2))


def make_steps(model: Any, weights: LossWeights, optimizer: Any, clip_norm: float | None = None,
               pixel_mask: Any = None) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """(train_step(x, rel, M) -> loss terms, eval_step(x, rel, M) -> loss terms), compiled.

    The train step applies the update only when the loss is finite (the caller then stops the
    run, as the PyTorch engine does before a NaN reaches the optimiser). ``clip_norm`` clips the
    gradients' global norm, like Lightning's ``gradient_clip_val``. ``pixel_mask`` (N, N), 1 = good
    detector pixel: prediction and data are both zeroed on bad pixels, as the PyTorch module does.
    """
    tf = import_tf()
    variables = model.trainable_variables
    want_obj = weights.realspace_weight > 0
    mask = None if pixel_mask is None else tf.constant(pixel_mask, tf.float32)

    def terms(x: Any, rel: Any, M: int, training: bool) -> dict[str, Any]:
        pred, obj = model.forward_with_object(x, rel, M, training=training)
        if mask is not None:
            pred, x = pred * mask, x * mask
        return compute_loss(pred, x, model.counts_scale, model.input_scale, weights, obj if want_obj else None)

    jit = os.environ.get("PTYCHO_TF_XLA", "0") == "1"

    @tf.function(reduce_retracing=True, jit_compile=jit)
    def train_step(x: Any, rel: Any, M: int) -> dict[str, Any]:
        with tf.GradientTape() as tape:
            out = terms(x, rel, M, True)
        grads = tape.gradient(out["loss"], variables)
        if clip_norm:
            grads, _ = tf.clip_by_global_norm(grads, clip_norm)
        if tf.math.is_finite(out["loss"]):
            optimizer.apply_gradients(zip(grads, variables))
        return out

    @tf.function(reduce_retracing=True, jit_compile=jit)
    def eval_step(x: Any, rel: Any, M: int) -> dict[str, Any]:
        return terms(x, rel, M, False)

    return train_step, eval_step

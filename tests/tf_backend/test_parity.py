"""The same weights give the same patches, amplitudes, loss and Adam step on both backends."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ptycho_engine.model.loss import LossWeights, compute_loss
from ptycho_engine.model.pinn import PtychoPINN

N, GRID, B = 64, 2, 3


def _pair(seed: int = 0, **arch):
    """A PyTorch PtychoPINN with random (seeded) weights and its TF twin."""
    from ptycho_engine.tf_backend.model import TFPinn

    torch.manual_seed(seed)
    if arch.get("generator") == "unrolled":  # learned step sizes away from their initial 1
        arch.setdefault("unroll_steps", 3)
    rng = np.random.default_rng(seed)
    probe = (rng.normal(size=(N, N)) + 1j * rng.normal(size=(N, N))).astype(np.complex64) * 0.3
    kw = dict(N=N, gridsize=GRID, n_filters_scale=1, input_scale=0.7, counts_scale=50.0, log_gain=0.2)
    kw.update(arch)
    pt = PtychoPINN(probe, **kw)
    if hasattr(pt.generator, "step_sizes"):
        with torch.no_grad():
            pt.generator.step_sizes.copy_(torch.linspace(0.5, 1.2, pt.generator.step_sizes.numel()))
    return pt, TFPinn.from_torch(pt)


def _batch(seed: int = 1, C: int = GRID * GRID):
    rng = np.random.default_rng(seed)
    x = rng.random((B, C, N, N)).astype(np.float32)
    rel = rng.uniform(-7, 7, (B, C, 2)).astype(np.float32) if C > 1 else np.zeros((B, C, 2), np.float32)
    return x, rel


@pytest.mark.parametrize("arch", [dict(probe_big=True), dict(probe_big=False),
                                  dict(gridsize=1, pad_object=False, amp_activation="swish"),
                                  dict(probe_mask=True, probe_big=False),
                                  dict(generator="unrolled", unroll_steps=3, probe_big=False),
                                  dict(generator="unrolled", unroll_steps=2, gridsize=1)])
def test_same_weights_same_patches_and_amplitudes(tf, arch):
    pt, tfm = _pair(**arch)
    x, rel = _batch(C=arch.get("gridsize", GRID) ** 2)
    with torch.no_grad():
        pred_pt, obj_pt = pt.forward_with_object(torch.from_numpy(x), torch.from_numpy(rel))
    pred_tf, obj_tf = tfm.forward_with_object(tf.constant(x), tf.constant(rel), tfm.canvas_for(rel))
    assert np.abs(obj_pt.numpy()).std() > 1e-3  # the heads really vary (not a trivial comparison)
    assert np.abs(obj_pt.numpy() - obj_tf.numpy()).max() <= 1e-5
    assert np.abs(pred_pt.numpy() - pred_tf.numpy()).max() <= 1e-5 * max(1.0, np.abs(pred_pt.numpy()).max())


def test_canvas_size_does_not_change_the_result(tf):
    pt, tfm = _pair()
    x, rel = _batch()
    M = tfm.canvas_for(rel)
    a = tfm.forward_with_object(tf.constant(x), tf.constant(rel), M)[0].numpy()
    b = tfm.forward_with_object(tf.constant(x), tf.constant(rel), M + 10)[0].numpy()
    assert np.abs(a - b).max() <= 1e-6 * np.abs(a).max()


@pytest.mark.parametrize("weights", [LossWeights("poisson", 1.0, 0.0), LossWeights("poisson", 1.0, 0.3, 0.05),
                                     LossWeights("mae", 0.0, 1.0)])
def test_same_loss_on_the_same_batch(tf, weights):
    from ptycho_engine.tf_backend.loss import compute_loss as tf_loss

    pt, tfm = _pair()
    x, rel = _batch()
    x_obs = x * 0.8  # the observed amplitudes differ from the prediction
    with torch.no_grad():
        pred, obj = pt.forward_with_object(torch.from_numpy(x), torch.from_numpy(rel))
        ref = compute_loss(pred, torch.from_numpy(x_obs), pt.counts_scale, pt.input_scale, weights, obj)
    pred_tf, obj_tf = tfm.forward_with_object(tf.constant(x), tf.constant(rel), tfm.canvas_for(rel))
    got = tf_loss(pred_tf, tf.constant(x_obs), tfm.counts_scale, tfm.input_scale, weights, obj_tf)
    assert set(got) == set(ref)
    for name in ref:
        r, g = float(ref[name]), float(got[name])
        assert abs(g - r) <= 1e-5 * abs(r), (name, r, g)


@pytest.mark.parametrize("eps, generator", [(1e-8, "cnn"), (1e-4, "cnn"), (1e-4, "unrolled")])
def test_one_adam_step_changes_the_weights_the_same_way(tf, eps, generator):
    """torch Adam(lr, eps) vs Keras Adam(lr, epsilon=eps*sqrt(1-beta_2)): the same first step.

    Adam's first step is lr * g / (|g| + eps): about lr * sign(g), so a weight whose gradient is
    at float round-off (|g| << 1e-5 of the tensor's largest) may step either way on either
    backend. The engine's eps 1e-8 is checked where the gradient is not round-off; eps 1e-4
    (relative to these O(0.01-1) gradients) makes every weight comparable.
    """
    from ptycho_engine.tf_backend.convert import torch_state
    from ptycho_engine.tf_backend.step import make_optimizer, make_steps

    lr = 1e-3
    pt, tfm = _pair(generator=generator, probe_big=generator == "cnn")
    x, rel = _batch()
    weights = LossWeights("poisson", 1.0, 0.1)
    before = {k: v.detach().clone().numpy() for k, v in pt.state_dict().items()}
    opt = torch.optim.Adam([p for p in pt.parameters() if p.requires_grad], lr=lr, eps=eps)
    pred, obj = pt.forward_with_object(torch.from_numpy(x), torch.from_numpy(rel))
    compute_loss(pred, torch.from_numpy(x), pt.counts_scale, pt.input_scale, weights)["loss"].backward()
    grads = {k: p.grad.numpy().copy() for k, p in pt.named_parameters() if p.grad is not None}
    opt.step()
    after_pt = {k: v.detach().numpy() for k, v in pt.state_dict().items()}

    train_step, _ = make_steps(tfm, weights, make_optimizer(lr, torch_epsilon=eps))
    train_step(tf.constant(x), tf.constant(rel), tfm.canvas_for(rel))
    after_tf = torch_state(tfm)
    assert set(after_tf) == set(after_pt)
    moved, worst = 0, 0.0
    for key, ref in after_pt.items():
        delta_pt, delta_tf = ref - before[key], after_tf[key] - before[key]
        if key not in grads:  # buffers (scales) and the frozen probe do not move
            assert np.array_equal(delta_pt, 0 * delta_pt) and np.array_equal(delta_tf, 0 * delta_tf), key
            continue
        g = np.abs(grads[key])
        comparable = g >= 1e-4 * g.max() if eps < 1e-4 else np.ones_like(g, bool)
        assert comparable.mean() > 0.5, key
        worst = max(worst, float(np.abs(delta_tf - delta_pt)[comparable].max()) / lr)
        assert np.abs(delta_tf - delta_pt).max() <= 2.0001 * lr, key
        moved += int(np.abs(delta_pt).max() > 0.5 * lr)
    # agreement to 1% of the step (the unrolled FFT updates add round-off: 3%); typically far closer
    assert worst <= (3e-2 if generator == "unrolled" else 1e-2), worst
    assert moved > 10  # the step really changed the network (and log_gain)
    assert abs(after_tf["log_gain"] - before["log_gain"]) > 0.5 * lr


def test_weights_round_trip_both_ways(tf):
    from ptycho_engine.tf_backend.convert import to_torch

    pt, tfm = _pair(seed=3)
    other = PtychoPINN(np.ones((N, N), np.complex64), N=N, gridsize=GRID, n_filters_scale=1)
    to_torch(tfm, other)
    for key, value in pt.state_dict().items():
        assert torch.equal(value, other.state_dict()[key]), key

"""The CNN generator: shapes per N and gridsize, support confinement, activations, gradients."""
from __future__ import annotations

import math

import pytest
import torch

from ptycho_engine.model.network import Generator, decoder_widths, encoder_widths


@pytest.mark.parametrize("N", [64, 128])
@pytest.mark.parametrize("gridsize", [1, 2])
def test_output_shapes(N, gridsize):
    C = gridsize ** 2
    gen = Generator(N=N, gridsize=gridsize)
    amp, phase = gen(torch.rand(2, C, N, N))
    assert amp.shape == (2, C, N, N) and phase.shape == (2, C, N, N)
    q = N // 4  # the central square is the head's own activation; the probe_big border is SiLU
    centre_amp, centre_phase = amp[..., q:N - q, q:N - q], phase[..., q:N - q, q:N - q]
    assert torch.all(centre_amp >= 0) and torch.all(centre_amp <= 1)  # sigmoid
    assert torch.all(centre_phase.abs() < math.pi)


def test_n256_shape():
    amp, phase = Generator(N=256, gridsize=1, n_filters_scale=1)(torch.rand(1, 1, 256, 256))
    assert amp.shape == phase.shape == (1, 1, 256, 256)


def test_widths_match_reference_table():
    assert encoder_widths(64, 2) == [64, 128, 256]
    assert decoder_widths(64, 2) == [128, 64]
    assert encoder_widths(128, 2) == [32, 64, 128, 256]
    assert decoder_widths(128, 2) == [256, 128, 64]
    assert encoder_widths(256, 1) == [8, 16, 32, 64, 128]


def test_pad_object_confines_object_to_central_half():
    gen = Generator(N=64, gridsize=1, n_filters_scale=1, probe_big=False)
    amp, phase = gen(torch.rand(2, 1, 64, 64))
    border = torch.ones(64, 64, dtype=torch.bool)
    border[16:48, 16:48] = False
    assert torch.all(amp[..., border] == 0) and torch.all(phase[..., border] == 0)
    assert torch.all(amp[..., 16:48, 16:48] > 0)


def test_probe_big_fills_border_without_touching_centre():
    torch.manual_seed(0)
    with_border = Generator(N=64, gridsize=1, n_filters_scale=1, probe_big=True)
    amp, _ = with_border(torch.rand(2, 1, 64, 64))
    assert amp[..., :16, :].abs().sum() > 0  # the border branch writes the border


@pytest.mark.parametrize("act", ["sigmoid", "swish", "softplus", "relu"])
def test_amp_activations(act):
    amp, _ = Generator(N=64, gridsize=1, n_filters_scale=1, amp_activation=act, probe_big=False)(torch.rand(1, 1, 64, 64))
    assert torch.isfinite(amp).all()
    if act in ("softplus", "relu", "sigmoid"):
        assert torch.all(amp >= 0)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="supports"):
        Generator(N=96)
    with pytest.raises(ValueError, match="amp_activation"):
        Generator(N=64, amp_activation="tanh")
    with pytest.raises(ValueError, match="expects"):
        Generator(N=64, gridsize=2)(torch.rand(1, 1, 64, 64))


def test_gradients_reach_every_layer():
    gen = Generator(N=64, gridsize=2, n_filters_scale=1)
    amp, phase = gen(torch.rand(2, 4, 64, 64))
    (amp.mean() + phase.square().mean()).backward()
    missing = [n for n, p in gen.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert missing == []
    assert gen.encoder[0][0].weight.grad.abs().sum() > 0


def test_initial_output_depends_on_input():
    """He-initialised blocks keep the signal alive: at init, different inputs give different objects.

    (With PyTorch's default init the output varied by ~1e-6 across inputs and training plateaued.)
    """
    torch.manual_seed(0)
    gen = Generator(N=64, gridsize=1, n_filters_scale=1)
    x = torch.rand(4, 1, 64, 64)  # about the normalised input energy, (N/2)^2 per pattern
    amp, phase = gen(x)
    assert float(amp[..., 16:48, 16:48].std(0).mean()) > 1e-3
    assert float(phase[..., 16:48, 16:48].abs().mean()) < 0.5  # but the object starts nearly flat


def test_without_pad_object_the_object_fills_the_patch():
    amp, phase = Generator(N=64, gridsize=2, n_filters_scale=1, pad_object=False)(torch.rand(1, 4, 64, 64))
    assert amp.shape == phase.shape == (1, 4, 64, 64)
    assert torch.all(amp[..., :16, :] > 0)  # sigmoid everywhere, no zero border


def test_channels_last_layout_changes_speed_not_values():
    """The default NHWC layout must give the NCHW network's outputs and gradients."""
    torch.manual_seed(0)
    net = Generator(64, 2, 1, probe_big=True)
    assert net.channels_last and net.encoder[0][0].weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.rand(3, 4, 64, 64)
    amp_cl, ph_cl = net(x)
    assert amp_cl.is_contiguous() and ph_cl.is_contiguous()  # the physics' FFTs get plain rows
    (amp_cl.sum() + ph_cl.sum()).backward()
    grad_cl = net.encoder[0][0].weight.grad.clone()
    net.zero_grad()
    net.set_channels_last(False)
    assert not net.encoder[0][0].weight.is_contiguous(memory_format=torch.channels_last)
    amp, ph = net(x)
    (amp.sum() + ph.sum()).backward()
    torch.testing.assert_close(amp_cl, amp, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(ph_cl, ph, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(grad_cl, net.encoder[0][0].weight.grad, rtol=1e-3, atol=1e-4)

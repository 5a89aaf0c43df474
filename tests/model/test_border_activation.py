"""probe_big: the border branch ends in SiLU whatever the head's activation (as the reference does).

The border convolution is set to a constant pre-activation c < 0; a sigmoid head would then put
sigmoid(c) > 0 on the border, the reference's SiLU puts silu(c) < 0 there. The central N/2
square keeps the head's own activation.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ptycho_engine.model.network import Generator, central_mask

N = 64
C_PRE = -1.5  # silu(-1.5) = -0.27, sigmoid(-1.5) = +0.18, pi tanh(-1.5) = -2.84


def _generator(amp_activation: str, gridsize: int = 1) -> Generator:
    torch.manual_seed(0)
    gen = Generator(N=N, gridsize=gridsize, n_filters_scale=1, amp_activation=amp_activation,
                    pad_object=True, probe_big=True)
    with torch.no_grad():
        for head in (gen.amp_head, gen.phase_head):
            head.border_last.weight.zero_()
            head.border_last.bias.fill_(C_PRE)
    return gen.eval()


@pytest.mark.parametrize("gridsize", [1, 2])
def test_sigmoid_amplitude_border_is_silu_of_the_border_conv(gridsize):
    gen = _generator("sigmoid", gridsize)
    C = gridsize * gridsize
    with torch.no_grad():
        amp, phase = gen(torch.rand(2, C, N, N))
    border = central_mask(N) == 0
    expected = F.silu(torch.tensor(C_PRE)).item()
    assert expected < 0  # impossible for a sigmoid
    assert amp.shape == (2, C, N, N)
    torch.testing.assert_close(amp[..., border], torch.full_like(amp[..., border], expected), rtol=0, atol=1e-6)
    # the centre keeps the head's sigmoid: strictly inside (0, 1)
    centre = amp[..., ~border]
    assert float(centre.min()) > 0 and float(centre.max()) < 1
    # the phase head's border branch is SiLU as well (not pi * tanh)
    torch.testing.assert_close(phase[..., border], torch.full_like(phase[..., border], expected), rtol=0,
                               atol=1e-6)
    assert abs(expected - math.pi * math.tanh(C_PRE)) > 1


@pytest.mark.parametrize("activation", ["swish", "softplus", "relu"])
def test_border_is_silu_for_every_amplitude_activation(activation):
    gen = _generator(activation)
    with torch.no_grad():
        amp, _ = gen(torch.rand(1, 1, N, N))
    border = central_mask(N) == 0
    expected = F.silu(torch.tensor(C_PRE)).item()
    torch.testing.assert_close(amp[..., border], torch.full_like(amp[..., border], expected), rtol=0, atol=1e-6)


def test_border_branch_follows_its_input_through_silu():
    """A non-constant border: the output equals silu(border_last(border_up(h))) on the border."""
    gen = _generator("sigmoid")
    head = gen.amp_head
    with torch.no_grad():
        torch.manual_seed(1)
        head.border_last.weight.normal_(0, 0.5)
        head.border_last.bias.fill_(-0.5)
        x = torch.rand(2, 1, N, N)
        z = gen.encoder(x)
        h = head.base(z)
        pre = head.border_last(head.border_up(h[:, head.c_main:]))
        amp, _ = gen(x)
    border = central_mask(N) == 0
    torch.testing.assert_close(amp[..., border], F.silu(pre)[..., border], rtol=1e-5, atol=1e-6)
    assert float(pre[..., border].min()) < -0.5  # negative pre-activations were exercised
    assert float(amp[..., border].min()) < 0

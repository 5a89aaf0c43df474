"""The CNN generator: diffraction amplitudes (B, C, N, N) -> object amplitude and phase patches.

A skip-less encoder/decoder like the reference's TF generator (facts §3.6), deliberately without
the attention blocks the torch port added (CBAM made the N=128 amplitude collapse to a constant).
The object support is the central N/2 square (``pad_object``), which is what gives the forward
model its oversampling; ``probe_big`` adds a separate low-capacity branch that may fill the
border outside that square (masked so it cannot leak into the centre).
"""
from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F

AMP_ACTIVATIONS = ("sigmoid", "swish", "softplus", "relu")
SUPPORTED_N = (64, 128, 256)
#: how many of the decoder's last feature maps feed the border (probe_big) branch, as in TF
C_OUTER = 4
#: the output convolutions start this much smaller than PyTorch's default init (see Head)
HEAD_INIT_GAIN = 0.1


def amp_activation_fn(name: str):
    """The amplitude head's activation ('swish' is SiLU; 'silu' is accepted as an alias)."""
    name = {"silu": "swish"}.get(name, name)
    table = {"sigmoid": torch.sigmoid, "swish": F.silu, "softplus": F.softplus, "relu": F.relu}
    if name not in table:
        raise ValueError(f"amp_activation: expected one of {list(AMP_ACTIVATIONS)}, got {name!r}")
    return table[name]


def phase_activation(x: torch.Tensor) -> torch.Tensor:
    """Phase in (-pi, pi)."""
    return math.pi * torch.tanh(x)


def _relu_conv(c_in: int, c_out: int) -> nn.Conv2d:
    """3x3 'same' conv with He initialisation (zero bias).

    Why: with PyTorch's default init (gain ~ 1/sqrt(3) of He's) each block of this skip-less
    network shrinks the signal ~4x, so at init the output is constant over inputs (std across a
    batch ~1e-6) and training sits on a long plateau before it finds structure.
    """
    conv = nn.Conv2d(c_in, c_out, 3, padding=1)
    nn.init.kaiming_normal_(conv.weight, mode="fan_in", nonlinearity="relu")
    nn.init.zeros_(conv.bias)
    return conv


def _double_conv(c_in: int, c_out: int) -> list[nn.Module]:
    return [_relu_conv(c_in, c_out), nn.ReLU(inplace=True), _relu_conv(c_out, c_out), nn.ReLU(inplace=True)]


class ConvPool(nn.Sequential):
    """2 x (conv 3x3 'same' + ReLU) then 2x2 max-pool (halves the size)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(*_double_conv(c_in, c_out), nn.MaxPool2d(2))


class ConvUp(nn.Sequential):
    """2 x (conv 3x3 'same' + ReLU) then nearest x2 upsampling (doubles the size)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(*_double_conv(c_in, c_out), nn.Upsample(scale_factor=2, mode="nearest"))


def encoder_widths(N: int, n_filters_scale: int) -> list[int]:
    """Conv_Pool widths taking N px down to 8 px (N=64: 32s, 64s, 128s; N=128: 16s..128s; ...)."""
    n_blocks = int(round(math.log2(N // 8)))
    return [128 * n_filters_scale // 2 ** (n_blocks - 1 - i) for i in range(n_blocks)]


def decoder_widths(N: int, n_filters_scale: int) -> list[int]:
    """Conv_Up widths taking 8 px up to N/2 px (N=64: 64s, 32s; N=128: 128s, 64s, 32s; ...)."""
    n_blocks = int(round(math.log2(N // 16)))
    return [32 * n_filters_scale * 2 ** (n_blocks - 1 - i) for i in range(n_blocks)]


def central_mask(N: int) -> torch.Tensor:
    """1 on the central N/2 x N/2 square (the object support), 0 on the border."""
    m = torch.zeros(N, N)
    q = N // 4
    m[q:N - q, q:N - q] = 1.0
    return m


class Head(nn.Module):
    """One output head (amplitude or phase): decoder base + last stage (+ optional border branch)."""

    def __init__(self, N: int, c_bottleneck: int, c_out: int, n_filters_scale: int, activation,
                 pad_object: bool, probe_big: bool) -> None:
        super().__init__()
        self.N, self.pad_object, self.probe_big, self.activation = N, pad_object, probe_big, activation
        widths = decoder_widths(N, n_filters_scale)
        blocks, c = [], c_bottleneck
        for w in widths:
            blocks.append(ConvUp(c, w))
            c = w
        self.base = nn.Sequential(*blocks)  # 8 px -> N/2 px
        if pad_object:
            c_main = c - C_OUTER if probe_big else c
            self.c_main = c_main
            self.last = nn.Conv2d(c_main, c_out, 3, padding=1)
            if probe_big:
                c_border = n_filters_scale * (2048 // N)
                self.border_up = ConvUp(C_OUTER, c_border)
                self.border_last = nn.Conv2d(c_border, c_out, 3, padding=1)
                self.register_buffer("border_mask", 1.0 - central_mask(N), persistent=False)
        else:
            self.up = ConvUp(c, c)
            self.last = nn.Conv2d(c, c_out, 3, padding=1)
        # start from a nearly flat object (amplitude ~ act(0), phase ~ 0): random initial phases
        # of ~1 rad make the C patches of a group cancel when object_big merges them
        for conv in (self.last, getattr(self, "border_last", None)):
            if conv is not None:
                with torch.no_grad():
                    conv.weight.mul_(HEAD_INIT_GAIN)
                    conv.bias.zero_()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.base(z)
        if not self.pad_object:
            return self.activation(self.last(self.up(h)))
        q = self.N // 4
        out = F.pad(self.activation(self.last(h[:, : self.c_main])), (q, q, q, q))
        if self.probe_big:
            # SiLU here whatever the head's activation, as the reference's border branch (facts 3.6)
            border = F.silu(self.border_last(self.border_up(h[:, self.c_main:])))
            out = out + border * self.border_mask
        return out


class Generator(nn.Module):
    """Skip-less CNN: (B, C, N, N) amplitudes -> ((B, C, N, N) amplitude, (B, C, N, N) phase).

    ``n_filters_scale`` multiplies every width (reference default 2). With ``pad_object`` (the
    reference default) the object lives on the central N/2 square; ``probe_big`` lets a small
    branch fill the border (only meaningful with ``pad_object``).
    """

    def __init__(self, N: int = 64, gridsize: int = 1, n_filters_scale: int = 2,
                 amp_activation: str = "sigmoid", pad_object: bool = True, probe_big: bool = True) -> None:
        super().__init__()
        if N not in SUPPORTED_N:
            raise ValueError(f"N: the CNN supports {list(SUPPORTED_N)}, got {N}")
        if n_filters_scale < 1:
            raise ValueError(f"n_filters_scale must be >= 1, got {n_filters_scale}")
        C = gridsize * gridsize
        self.N, self.C = N, C
        enc, c = [], C
        for w in encoder_widths(N, n_filters_scale):
            enc.append(ConvPool(c, w))
            c = w
        self.encoder = nn.Sequential(*enc)
        act = amp_activation_fn(amp_activation)
        self.amp_head = Head(N, c, C, n_filters_scale, act, pad_object, probe_big)
        self.phase_head = Head(N, c, C, n_filters_scale, phase_activation, pad_object, probe_big)
        self.channels_last = False
        self.set_channels_last(True)

    def set_channels_last(self, enabled: bool) -> None:
        """Run the convolutions on channels-last (NHWC) tensors, or on the plain NCHW layout.

        Why on by default: oneDNN (CPU) and cuDNN run these 3x3 convolutions faster on NHWC
        data; measured x1.25-1.4 per CPU training step (benchmarks/results, "channels_last").
        Values are unchanged: only the memory layout of the weights and activations differs.
        """
        self.channels_last = bool(enabled)
        self.to(memory_format=torch.channels_last if enabled else torch.contiguous_format)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.ndim != 4 or x.shape[1] != self.C or x.shape[-1] != self.N or x.shape[-2] != self.N:
            raise ValueError(f"Generator expects (B, {self.C}, {self.N}, {self.N}), got {tuple(x.shape)}")
        if not self.channels_last:
            z = self.encoder(x)
            return self.amp_head(z), self.phase_head(z)
        z = self.encoder(x.contiguous(memory_format=torch.channels_last))
        # back to the plain layout: the physics (FFTs over the last two axes) wants contiguous rows
        return self.amp_head(z).contiguous(), self.phase_head(z).contiguous()

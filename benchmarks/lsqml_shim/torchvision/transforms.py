"""``GaussianBlur`` as Pty-chi calls it: separable Gaussian, reflect padding (see package docstring)."""
from __future__ import annotations

import torch


class GaussianBlur(torch.nn.Module):
    def __init__(self, kernel_size: int | tuple[int, int], sigma: float | tuple[float, float] = 1.0) -> None:
        super().__init__()
        k = kernel_size if isinstance(kernel_size, (tuple, list)) else (kernel_size, kernel_size)
        s = sigma if isinstance(sigma, (tuple, list)) else (sigma, sigma)
        self.kernel_size, self.sigma = (int(k[0]), int(k[1])), (float(s[0]), float(s[-1]))

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        x = img.reshape(-1, 1, *img.shape[-2:])
        for axis, (k, s) in enumerate(zip(self.kernel_size, self.sigma)):
            t = torch.arange(k, dtype=x.dtype, device=x.device) - (k - 1) / 2
            w = torch.exp(-0.5 * (t / s) ** 2)
            w = (w / w.sum()).view(1, 1, -1, 1) if axis == 0 else (w / w.sum()).view(1, 1, 1, -1)
            pad = (0, 0, k // 2, k // 2) if axis == 0 else (k // 2, k // 2, 0, 0)
            x = torch.nn.functional.conv2d(torch.nn.functional.pad(x, pad, mode="reflect"), w)
        return x.reshape(img.shape)

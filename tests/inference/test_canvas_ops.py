"""The refinement's local gather/splat must be extract_patches and its exact adjoint."""
from __future__ import annotations

import numpy as np
import torch

from ptycho_engine.inference.canvas_ops import footprint, gather, splat
from ptycho_engine.physics.shifts import extract_patches


def test_gather_equals_extract_patches_and_splat_is_its_adjoint() -> None:
    rng = np.random.default_rng(0)
    H, W, N = 40, 52, 16
    obj = torch.from_numpy((rng.standard_normal((H, W)) + 1j * rng.standard_normal((H, W))).astype(np.complex64))
    # inside, fractional, integer and partly outside the canvas
    pos = torch.tensor([[20.3, 17.8], [8.0, 8.0], [45.5, 33.25], [3.7, 35.1]], dtype=torch.float64)
    fp = footprint(pos, N, (H, W))
    np.testing.assert_allclose(gather(obj.reshape(-1), fp).numpy(), extract_patches(obj, pos, N).numpy(),
                               atol=1e-5)
    values = torch.from_numpy((rng.standard_normal((4, N, N)) + 1j * rng.standard_normal((4, N, N)))
                              .astype(np.complex64))
    back = torch.zeros(H * W, dtype=torch.complex64)
    splat(values, fp, back)
    lhs = torch.vdot(gather(obj.reshape(-1), fp).reshape(-1), values.reshape(-1))
    rhs = torch.vdot(obj.reshape(-1), back)
    assert abs(complex(lhs) - complex(rhs)) < 1e-3 * abs(complex(lhs))
    touched = fp.touched
    outside = torch.ones(H * W, dtype=torch.bool)
    outside[touched] = False
    assert back[touched].abs().sum() > 0 and back[outside].abs().max() == 0   # nothing beyond the footprint

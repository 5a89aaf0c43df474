"""The network stand-in of the memory benchmarks (streaming inference itself is the engine's
``inference.reconstruct.predict_and_stitch``)."""
from __future__ import annotations

import torch


class StandInModel(torch.nn.Module):
    """A network stand-in for memory runs: object = measured amplitude (as complex).

    Why: the real CNN predicts ~10-40 patterns/s on this 2-core machine, so 10^5 patterns would
    take an hour; its memory per batch is constant, so it does not change how memory grows.
    """

    def predict_object(self, x: torch.Tensor, rel: torch.Tensor | None = None) -> torch.Tensor:
        return x.to(torch.complex64)

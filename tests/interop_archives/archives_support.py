"""Constants and builders shared by the PtychoPINN-archive tests (imported by them and conftest)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

DATA = Path(__file__).parent / "data"
#: the reference's own archive (its autoencoder/ member left out to keep the repository small)
REFERENCE_ARCHIVE = DATA / "ptychopinn_d2o_wts.h5.zip"
REFERENCE_PATCHES = DATA / "upstream_reference.npz"
#: the full shared fixture, when this checkout sits beside it
SHARED_ARCHIVE = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "upstream_ptychopinn" / "wts.h5.zip"


def make_model_dir(folder: Path, seed: int = 0, zero_dropped_channels: bool = False, **arch: Any) -> Path:
    """A model folder with a small randomly initialised model of ours (nothing trained: fast).

    ``zero_dropped_channels``: zero the heads' weights on the last 4 decoder channels, which the
    reference's last convolution never sees (so a probe_big = False model becomes exportable).
    """
    import torch

    from ptycho_engine.archive import save_archive
    from ptycho_engine.model.pinn import PtychoPINN

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    N = arch.setdefault("N", 64)
    arch.setdefault("n_filters_scale", 1)
    arch.setdefault("generator", "cnn")
    probe = (rng.random((N, N)) + 1j * rng.random((N, N))).astype(np.complex64)
    model = PtychoPINN(probe, **arch, input_scale=0.7, counts_scale=50.0, log_gain=0.3)
    if zero_dropped_channels:
        with torch.no_grad():
            for head in (model.generator.amp_head, model.generator.phase_head):
                head.last.weight[:, -4:] = 0
    folder.mkdir(parents=True, exist_ok=True)
    save_archive(folder / "wts.h5.zip", model, {"model": dict(model.arch), "training": {"nphotons": 1e6}})
    return folder

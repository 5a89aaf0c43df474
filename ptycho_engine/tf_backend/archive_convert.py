"""``ptycho-engine convert``: a model archive for the other backend (PyTorch <-> TensorFlow).

Both backends store the canonical tensor layout, so converting means: load strictly, move the
weights into the target backend's network and back (the round trip must give the same tensors,
which proves the mapping is complete), and write the archive with the target in its manifest.
Optionally the Keras weights are also written as a native ``.weights.h5`` (for plain Keras use).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from . import BACKEND, available, check_generator, require

#: extras that save_archive writes itself from the model
_MODEL_EXTRAS = ("log_gain", "intensity_scale", "probe", "input_scale", "counts_scale")


def convert_archive(source: str | Path, output: str | Path, to: str,
                    keras_weights: str | Path | None = None) -> Path:
    """Write ``output`` (a file, or a folder that gets ``wts.h5.zip``) for backend ``to``; returns it."""
    from ..archive import ARCHIVE_BACKENDS, ARCHIVE_NAME, archive_file, load_archive, save_archive

    if to not in ARCHIVE_BACKENDS:
        raise ValueError(f"convert: --to must be one of {list(ARCHIVE_BACKENDS)}, got {to!r}")
    src = archive_file(source)
    loaded = load_archive(src)
    pinn = loaded.model
    if to == BACKEND or keras_weights is not None:
        require()
    if available()[0]:
        check_generator(pinn.arch.get("generator", "cnn")) if to == BACKEND else None
        if pinn.arch.get("generator", "cnn") == "cnn":
            _round_trip(pinn, keras_weights)
    dst = Path(output)
    if dst.is_dir() or not dst.suffix:
        dst = dst / ARCHIVE_NAME
    dst.parent.mkdir(parents=True, exist_ok=True)
    extras = {k: v for k, v in loaded.extras.items() if k not in _MODEL_EXTRAS}
    return save_archive(dst, pinn, loaded.config, loaded.params, extras=extras, backend=to)


def _round_trip(pinn: Any, keras_weights: str | Path | None) -> None:
    """PyTorch -> Keras -> PyTorch must reproduce every tensor bit for bit."""
    import copy

    from .convert import to_torch
    from .model import TFPinn

    tf_model = TFPinn.from_torch(pinn)
    back = to_torch(tf_model, copy.deepcopy(pinn))
    ref = pinn.state_dict()
    for key, value in back.state_dict().items():
        if not np.array_equal(value.cpu().numpy(), ref[key].cpu().numpy()):
            raise ValueError(f"convert: tensor {key!r} changed in the PyTorch -> Keras -> PyTorch round trip")
    if keras_weights is not None:
        path = str(keras_weights)
        if not path.endswith(".weights.h5"):
            raise ValueError(f"--keras-weights must end in .weights.h5 (a Keras 3 rule), got {path}")
        from .runtime import save_keras_weights

        save_keras_weights(tf_model.generator, path)

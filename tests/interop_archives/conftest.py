"""Fixtures of the PtychoPINN-archive tests: the reference archive and its expected patches."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

from .archives_support import REFERENCE_ARCHIVE, REFERENCE_PATCHES

# before anything imports keras (the optional Keras test): keep its keras.json out of the user's home
os.environ.setdefault("KERAS_HOME", tempfile.mkdtemp(prefix="keras-home-"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture
def reference_archive(tmp_path: Path) -> Path:
    """A model folder holding the reference archive as wts.h5.zip."""
    folder = tmp_path / "reference_model"
    folder.mkdir()
    (folder / "wts.h5.zip").write_bytes(REFERENCE_ARCHIVE.read_bytes())
    return folder


@pytest.fixture(scope="session")
def reference_patches() -> dict[str, np.ndarray]:
    with np.load(REFERENCE_PATCHES) as z:
        return {k: z[k] for k in z.files}

"""TF backend tests: Keras' home and TF's logging kept out of the user's home and the output."""
from __future__ import annotations

import os
import tempfile

import pytest

# before anything imports keras: it writes keras.json under KERAS_HOME on first use
os.environ.setdefault("KERAS_HOME", tempfile.mkdtemp(prefix="keras-home-"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


@pytest.fixture(scope="session")
def tf():
    """TensorFlow via the engine's importer (threads sized like torch's); skips where not installed."""
    pytest.importorskip("tensorflow")
    pytest.importorskip("keras")
    from ptycho_engine.tf_backend.runtime import import_tf

    return import_tf()

"""Importing TensorFlow once, quietly, with thread pools sized like torch's.

Why the sizing: torch and TF each default to one intra-op thread per core plus inter-op pools;
both in one process on a small machine oversubscribe the cores. TF's pools can only be set
before its first operation, so every TF use in the engine goes through :func:`import_tf`.
"""
from __future__ import annotations

import os
from types import ModuleType

_STATE: dict[str, object] = {}


def import_tf() -> ModuleType:
    """``tensorflow``, imported (once) after quietening its C++ logging and sizing its threads.

    Raises :class:`~ptycho_engine.tf_backend.BackendUnavailableError` when it is not installed.
    """
    if "tf" in _STATE:
        return _STATE["tf"]  # type: ignore[return-value]
    from . import require

    require()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # no cpu_feature_guard chatter
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    tf = _import_without_banner()

    try:
        tf.get_logger().setLevel("ERROR")
    except Exception:  # pragma: no cover - logging is cosmetic
        pass
    _STATE["tf"] = tf
    size_threads(tf)
    return tf


#: lines TensorFlow's C++ runtime writes to fd 2 on import, before any log level applies
IMPORT_BANNER = ("All log messages before absl::InitializeLog", "oneDNN custom operations are on")


def _import_without_banner() -> ModuleType:
    """``import tensorflow`` with its import-time banner lines dropped from stderr (anything else
    it writes there, an error above all, is passed on)."""
    import sys
    import tempfile

    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (AttributeError, OSError, ValueError):  # no real stderr (an embedding app): import plainly
        import tensorflow as tf

        return tf
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            import tensorflow as tf
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            lines = tmp.read().decode("utf-8", "replace").splitlines()
            rest = [ln for ln in lines if not any(b in ln for b in IMPORT_BANNER)]
            if rest:
                sys.stderr.write("\n".join(rest) + "\n")
    return tf


def torch_threads() -> int:
    """The intra-op thread count torch uses here (``OMP_NUM_THREADS`` or the affinity mask)."""
    from ..training.runtime import set_cpu_threads

    return set_cpu_threads()


def size_threads(tf: ModuleType) -> tuple[int, int]:
    """Intra-op = torch's thread count, inter-op = 1 (one model step at a time); returns them."""
    n = torch_threads()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TF already ran an operation (another library initialised it first)
        pass
    sizes = (tf.config.threading.get_intra_op_parallelism_threads(),
             tf.config.threading.get_inter_op_parallelism_threads())
    _STATE["threads"] = sizes
    return sizes


def keras() -> ModuleType:
    """``keras`` (3.x, on the TensorFlow backend)."""
    import_tf()
    import keras as _keras

    return _keras


def save_keras_weights(keras_model: object, path: str) -> None:
    """``keras_model.save_weights(path)`` (a ``.weights.h5`` file) without Keras 3.15's numpy-2
    ``__array__(copy=...)`` DeprecationWarning, which is Keras' own and says nothing to a user."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=r"__array__ implementation")
        keras_model.save_weights(path)  # type: ignore[attr-defined]

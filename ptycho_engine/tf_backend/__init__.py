"""The TensorFlow / Keras 3 backend (``backend = "tensorflow"``).

The same networks (the reference CNN, and the unrolled generator's physics updates after it),
forward model, loss and events as the PyTorch engine, run by TensorFlow. Only the model maths is
TensorFlow: grouping, normalisation, data loading, previews, stitching and the archive are the
engine's shared numpy code.

Nothing here imports TensorFlow at import time (importing takes ~3 s and ~0.5 GB): the
submodules import it inside their functions through :func:`.runtime.import_tf`. TensorFlow is the
optional ``tf`` extra; :func:`available` says whether it is installed without importing it.

Archives: ``weights.h5`` always holds the canonical tensor layout (the PyTorch state-dict names
and OIHW kernels); this backend converts to and from Keras' HWIO layout (:mod:`.convert`), and
``manifest.json`` records which backend trained the model. So every archive loads on either
backend, and ``ptycho-engine convert`` only relabels after a verified round trip.
"""
from __future__ import annotations

import importlib.util

from ..config.schema import ConfigError

BACKEND = "tensorflow"
#: what a user types to add the backend (the GPU variant is in the README)
INSTALL_HINT = ('pip install -c constraints.txt -e ".[tf]"  (CPU: tensorflow-cpu 2.21; for a GPU install '
                '"tensorflow[and-cuda]>=2.21,<2.22" instead)')
#: generators the Keras implementation maps
TF_GENERATORS = ("cnn", "unrolled")


class BackendUnavailableError(ConfigError):
    """backend = 'tensorflow' was asked for but TensorFlow / Keras 3 is not installed (exit 2)."""


def available() -> tuple[bool, str]:
    """(True, "") when TensorFlow and Keras 3 are installed, else (False, how to install them).

    Cheap: looks the packages up without importing them (the GUI calls it at start-up).
    """
    missing = [name for name in ("tensorflow", "keras") if importlib.util.find_spec(name) is None]
    if missing:
        return False, (f"the TensorFlow backend needs {' and '.join(missing)}, which "
                       f"{'is' if len(missing) == 1 else 'are'} not installed; install it with: {INSTALL_HINT}")
    return True, ""


def require() -> None:
    """Raise :class:`BackendUnavailableError` (saying how to install it) unless TF is installed."""
    ok, why = available()
    if not ok:
        raise BackendUnavailableError(why)


def check_generator(generator: str, explicit: bool = True) -> None:
    """Refuse a generator the Keras implementation does not map, naming the way out."""
    if generator not in TF_GENERATORS:
        raise ConfigError(f"generator {generator!r} is not implemented on the TensorFlow backend (it maps "
                          f"{list(TF_GENERATORS)}); set generator = 'cnn' (--generator cnn) or use "
                          "backend = 'pytorch'")

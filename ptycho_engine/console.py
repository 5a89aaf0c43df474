"""What the ``ptycho-engine`` command line shows besides its results: Python warnings as plain
lines, and ``--version``.

Never imports Qt; torch only inside :func:`version_report`.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.metadata as metadata
import importlib.util
import platform
import sys
import warnings
from typing import Any, Iterator

from .config.schema import EngineNotice

DISTRIBUTION = "ptycho-studio"

#: warning categories that are for developers of the code that raises them, not for its users
DEVELOPER_CATEGORIES: tuple[type[Warning], ...] = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)


@contextlib.contextmanager
def console_warnings(verbose: bool) -> Iterator[None]:
    """Inside: warnings print as one line, ``info: …`` for an :class:`EngineNotice` and
    ``warning: …`` otherwise, without the Python source line; third-party deprecations are dropped.

    ``verbose``: Python's own display (category, source line) and every deprecation, for
    developers. Filters given with ``-W`` / ``PYTHONWARNINGS`` are kept. Everything is restored
    on exit (the CLI also runs in-process, from tests and notebooks).
    """
    with warnings.catch_warnings():
        if verbose:
            for category in DEVELOPER_CATEGORIES:
                warnings.filterwarnings("default", category=category)
            yield
            return
        if not sys.warnoptions:
            for category in DEVELOPER_CATEGORIES:
                warnings.filterwarnings("ignore", category=category)
                # ... but our own deprecations are for our users (filters added later win)
                warnings.filterwarnings("default", category=category, module=r"ptycho_engine(\.|$)")

        def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: Any = None, line: str | None = None) -> None:
            label = "info" if issubclass(category, EngineNotice) else "warning"
            print(f"{label}: {message}", file=sys.stderr if file is None else file, flush=True)

        warnings.showwarning = show
        yield


def _installed_version(*distributions: str) -> str | None:
    for name in distributions:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def version_report() -> str:
    """The version of this package, Python, torch, Lightning, TensorFlow (when installed), the GUI
    extra, and whether CUDA is available: what to paste into a bug report."""
    own = _installed_version(DISTRIBUTION) or "unknown (not installed as a distribution)"
    lines = [f"ptycho-engine {own} ({DISTRIBUTION})",
             f"python {platform.python_version()} ({platform.platform(terse=True)})"]
    try:
        import torch
    except ImportError as exc:  # the engine cannot run, but say so instead of a traceback
        lines.append(f"torch: not importable ({exc})")
        torch = None
    else:
        lines.append(f"torch {torch.__version__}")
    lightning = _installed_version("lightning") or _installed_version("pytorch-lightning")
    lines.append(f"lightning {lightning or 'not installed'}")
    tensorflow = None
    if importlib.util.find_spec("tensorflow") is not None:  # not imported: that takes seconds
        tensorflow = _installed_version("tensorflow", "tensorflow-cpu", "tensorflow-gpu",
                                        "tensorflow-macos", "tf-nightly") or "installed (version unknown)"
    lines.append(f"tensorflow {tensorflow or 'not installed'}")
    gui = [f"{name} {v}" for name, v in (("PySide6-Essentials", _installed_version("pyside6-essentials", "pyside6")),
                                         ("pyqtgraph", _installed_version("pyqtgraph"))) if v]
    lines.append(f"gui extra: {', '.join(gui) if gui else 'not installed'}")
    if torch is not None:
        if torch.cuda.is_available():
            names = sorted({torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())})
            lines.append(f"CUDA: available (CUDA {torch.version.cuda}, {torch.cuda.device_count()} device(s): "
                         f"{', '.join(names)})")
        else:
            built = f"torch built with CUDA {torch.version.cuda}" if torch.version.cuda else "CPU-only torch build"
            lines.append(f"CUDA: not available ({built}); running on CPU")
    return "\n".join(lines)


class VersionAction(argparse.Action):
    """``--version``: print :func:`version_report` to stdout and exit 0 (computed only when asked:
    it imports torch)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS,
                 default: Any = argparse.SUPPRESS, help: str | None = None) -> None:  # noqa: A002 - argparse's name
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        print(version_report(), flush=True)
        parser.exit(0)

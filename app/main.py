"""``ptycho-studio`` / ``python -m app``: open the main window.

Kept light: no torch here. The window imports the engine's cheap API only and checks for CUDA
in a worker thread after it is shown.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Sequence

#: what the ``gui`` extra installs (pyproject.toml)
GUI_MODULES = ("PySide6", "shiboken6", "pyqtgraph")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ptycho-studio", description="Train and run PINN ptychography models.")
    parser.add_argument("--data", type=Path, help="scan file (NPZ) to open; default: the last one, else the demo")
    parser.add_argument("--output", type=Path, help="output folder for the next run")
    parser.add_argument("--no-cuda-check", action="store_true", help="do not probe for CUDA at start")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        from PySide6.QtWidgets import QApplication

        from .main_window import MainWindow
    except ModuleNotFoundError as exc:  # the engine installs without the GUI toolkit
        if (exc.name or "").split(".")[0] not in GUI_MODULES:
            raise
        print(f"ptycho-studio needs the GUI extra ({exc}): pip install \"ptycho-studio[gui]\" "
              "(from a checkout: pip install -e \".[gui]\"); ptycho-engine runs without it", file=sys.stderr)
        return 2
    from .settings import APPLICATION, ORGANIZATION

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    window = MainWindow(data_file=args.data, output_dir=args.output, check_cuda=not args.no_cuda_check)
    window.show()
    # Python's cycle collector runs in whichever thread allocates; if the engine's worker thread
    # frees a Qt object that way, destroying it off the GUI thread can block on the GIL (a hang).
    # pyqtgraph's collector turns automatic collection off and collects on a GUI-thread timer.
    from pyqtgraph.util.garbage_collector import GarbageCollector

    collector = GarbageCollector(interval=1.0)  # noqa: F841 - kept alive for the app's lifetime
    return int(app.exec())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

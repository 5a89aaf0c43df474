"""Help → About (versions, CUDA, where settings live) and Help → README (the tour, in a window).

Why here and not at start-up: the versions come from ``ptycho_engine.console.version_report``
(the text of ``ptycho-engine --version``), which imports torch — only when the dialog opens, so
the window still opens without torch.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QMessageBox, QTextBrowser, QVBoxLayout

if TYPE_CHECKING:  # pragma: no cover
    from .main_window import MainWindow


def readme_path() -> Path:
    """README.md of the checkout the app runs from (absent in a plain wheel install)."""
    return Path(__file__).resolve().parent.parent / "README.md"


def about_text(window: "MainWindow") -> str:
    """Versions (app, Python, torch, Lightning, TensorFlow, the GUI extra), CUDA, settings file."""
    from ptycho_engine.console import version_report  # imports torch: only now

    report = version_report().replace("ptycho-engine ", "Ptycho Studio ", 1)
    where = window.session.qsettings.fileName()
    runs = window.output_dir
    return (f"{report}\n\nSettings (last scans, runs folder, form values) live in:\n{where}"
            + (f"\n\nRuns folder: {runs}" if runs else ""))


def show_about(window: "MainWindow") -> QMessageBox:
    """Help → About Ptycho Studio (opened with open(): the event loop keeps running)."""
    box = QMessageBox(window)
    box.setIcon(QMessageBox.Icon.Information)
    box.setWindowTitle("About Ptycho Studio")
    box.setText("Ptycho Studio — physics-informed neural-network ptychographic reconstruction")
    box.setInformativeText(about_text(window))
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    box.open()
    window.about_box = box
    return box


def show_readme(window: "MainWindow") -> QDialog:
    """Help → README: the README rendered in a window, its path above it (or where it is missing)."""
    path = readme_path()
    dialog = QDialog(window)
    dialog.setWindowTitle("Ptycho Studio — README")
    dialog.resize(820, 640)
    where = QLabel(f"{path}")
    where.setWordWrap(True)
    view = QTextBrowser()
    view.setOpenExternalLinks(True)
    if path.is_file():
        view.setMarkdown(path.read_text(encoding="utf-8"))
    else:
        where.setText(f"{path} is not here (an installed package carries no README); the project's "
                      "README.md has the tour and the command-line guide.")
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dialog.close)
    layout = QVBoxLayout(dialog)
    layout.addWidget(where)
    layout.addWidget(view, 1)
    layout.addWidget(buttons)
    dialog.open()
    window.readme_dialog = dialog
    return dialog

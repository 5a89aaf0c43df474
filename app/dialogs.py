"""Message boxes the window opens. All are window-modal but opened with ``open()``, never
``exec()``: the event loop keeps running (workers keep reporting) and offscreen tests can find,
inspect and close them."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtWidgets import QMessageBox, QWidget


def error_dialog(parent: QWidget, what: str, message: str, details: str = "") -> QMessageBox:
    """What failed (headline), the message, and the traceback folded under 'Show Details…'."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Critical)
    box.setWindowTitle("Ptycho Studio — error")
    box.setText(what)
    box.setInformativeText(message)
    if details:
        box.setDetailedText(details)
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    box.open()
    return box


def ask_yes_no(parent: QWidget, title: str, text: str, informative: str, on_yes: Callable[[], None],
               yes_text: str = "Yes", no_text: str = "No", default_yes: bool = True) -> QMessageBox:
    """A question with two named answers; ``on_yes`` runs on the first (the default unless
    ``default_yes`` is False)."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle(title)
    box.setText(text)
    box.setInformativeText(informative)
    box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
    box.button(QMessageBox.StandardButton.Yes).setText(yes_text)
    box.button(QMessageBox.StandardButton.No).setText(no_text)
    box.setDefaultButton(QMessageBox.StandardButton.Yes if default_yes else QMessageBox.StandardButton.No)

    def _done(result: int) -> None:
        clicked = box.clickedButton()
        if clicked is not None and box.standardButton(clicked) == QMessageBox.StandardButton.Yes:
            on_yes()

    box.finished.connect(_done)
    box.open()
    return box


def ask_overwrite(parent: QWidget, directory: Path, detail: str, on_yes: Callable[[], None]) -> QMessageBox:
    """Ask before writing into a folder that already holds a run; ``detail`` names exactly what
    would be replaced (``run_folders.overwrite_text``). No is the default."""
    return ask_yes_no(parent, "Replace this run?", f"{directory} already contains a run.", detail, on_yes,
                      "Replace it", "Keep it", default_yes=False)

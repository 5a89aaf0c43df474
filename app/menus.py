"""The menu bar. Actions call the window's public slots; Run actions mirror the buttons."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu

from . import help_menu, settings_files

if TYPE_CHECKING:  # pragma: no cover
    from .main_window import MainWindow


def _add(window: "MainWindow", menu: QMenu, text: str, slot: Callable, shortcut=None) -> QAction:
    action = QAction(text, window)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    action.triggered.connect(slot)
    menu.addAction(action)
    return action


def build_menus(window: "MainWindow") -> dict[str, QAction]:
    """File / Run / View / Help menus; returns the actions whose enabled state follows the buttons."""
    bar = window.menuBar()
    file_menu = bar.addMenu("&File")
    _add(window, file_menu, "Open scan…", window.data_panel.browse, QKeySequence.StandardKey.Open)
    _add(window, file_menu, "Add scans to train on…", window.data_panel.browse_add, "Ctrl+Shift+O")
    _add(window, file_menu, "Validation scan…", window.data_panel.browse_validation)
    _add(window, file_menu, "Open demo scan", window.open_demo)
    _add(window, file_menu, "Open demo test scan", window.open_demo_test)
    _add(window, file_menu, "Apply demo preset (quick CPU training)", window.apply_demo_preset)
    _add(window, file_menu, "Save settings…", lambda: settings_files.save_dialog(window), "Ctrl+S")
    _add(window, file_menu, "Load settings…", lambda: settings_files.load_dialog(window), "Ctrl+L")
    file_menu.addSeparator()
    _add(window, file_menu, "Open run…", window.browse_run)
    _add(window, file_menu, "Load model…", window.output_panel.browse_model)
    _add(window, file_menu, "Choose output folder…", window.output_panel.browse_output)
    file_menu.addSeparator()
    _add(window, file_menu, "Quit", window.close, QKeySequence.StandardKey.Quit)
    run_menu = bar.addMenu("&Run")
    actions = {
        "train": _add(window, run_menu, "Train", window.start_training, "Ctrl+T"),
        "infer": _add(window, run_menu, "Infer", window.start_inference, "Ctrl+I"),
        "pretrain": _add(window, run_menu, "Pretrain on synthetic objects…", window.open_pretrain_dialog, "Ctrl+P"),
        "cancel": _add(window, run_menu, "Cancel", window.cancel_run, "Esc"),
    }
    view_menu = bar.addMenu("&View")
    for i in range(window.tabs.count()):
        _add(window, view_menu, window.tabs.tabText(i), lambda _=False, i=i: window.tabs.setCurrentIndex(i), f"Ctrl+{i + 1}")
    help_menu_ = bar.addMenu("&Help")
    _add(window, help_menu_, "README (tour and command line)", lambda: help_menu.show_readme(window), "F1")
    _add(window, help_menu_, "About Ptycho Studio", lambda: help_menu.show_about(window))
    return actions

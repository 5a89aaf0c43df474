"""File → Save / Load settings (the CLI's --config TOML) and the Help menu, through the window."""
from __future__ import annotations

import pytest
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QTextBrowser

from app import settings_files
from ptycho_engine import api

pytestmark = pytest.mark.gui


def _action(window, text: str) -> QAction:
    return next(a for a in window.findChildren(QAction) if a.text() == text)


def test_saved_training_settings_are_what_the_cli_reads_and_load_back(window, tmp_path):
    form = window.train_form
    form.set_texts({"nepochs": "3", "learning_rate": "0.0005", "probe_big": "false", "nphotons": "2e7"})
    assert window.backends["train"].set_value("tensorflow")
    path = settings_files.save_settings(window, tmp_path / "mine.toml", "train")
    text = path.read_text()
    assert "[training]" in text and "[model]" in text
    values = api.read_settings_file(path)  # exactly what `ptycho-engine train --config` reads
    assert values["nepochs"] == 3 and values["learning_rate"] == 5e-4 and values["probe_big"] is False
    assert values["nphotons"] == 2e7 and values["backend"] == "tensorflow" and values["n_groups"] == 16
    api.create_training_payload(window.data_files[0], tmp_path / "cli", values)  # the engine takes them all

    form.reset_defaults()
    window.backends["train"].set_value("pytorch")
    assert settings_files.load_into_window(window, path)
    assert window.last_error_dialog is None
    assert form.editor("nepochs").value() == 3 and form.editor("learning_rate").value() == 5e-4
    assert form.editor("nphotons").value() == 2e7 and window.backends["train"].value() == "tensorflow"


def test_bad_values_are_named_with_the_file_in_one_dialog(window, tmp_path):
    path = tmp_path / "typo.toml"
    path.write_text('[training]\nnepochs = "many"\nbatch_size = 4\n[model]\nnot_a_field = 1\n')
    assert not settings_files.load_into_window(window, path)
    box = window.last_error_dialog
    assert box is not None and box.isVisible()
    assert "typo.toml" in box.text() + box.informativeText()
    assert "nepochs" in box.informativeText() and "not_a_field" in box.informativeText()
    assert window.train_form.editor("batch_size").value() == 4  # the good values were taken
    box.close()

    broken = tmp_path / "broken.toml"
    broken.write_text("nepochs = = 3\n")
    assert not settings_files.load_into_window(window, broken)
    assert "broken.toml" in window.last_error_dialog.informativeText()


def test_an_inference_file_fills_the_inference_form(window, tmp_path):
    path = tmp_path / "infer.toml"
    path.write_text("[inference]\nrefine_epochs = 7\nrefine_probe = true\nstitch_weighting = 'uniform'\n")
    assert window.params_tabs.currentIndex() == 0
    assert settings_files.load_into_window(window, path)
    assert window.params_tabs.currentIndex() == 1
    assert window.infer_form.editor("refine_epochs").value() == 7
    assert window.infer_form.editor("refine_probe").value() is True
    saved = api.read_settings_file(settings_files.save_settings(window, tmp_path / "again.toml", "infer"))
    assert saved == {"backend": "pytorch", "refine_epochs": 7, "refine_probe": True, "stitch_weighting": "uniform"}


def test_demo_preset_loads_cleanly(window):
    assert settings_files.load_into_window(window, api.demo_preset_path())
    assert window.train_form.editor("nepochs").value() == 4


def test_help_about_and_readme(qtbot, window):
    _action(window, "About Ptycho Studio").trigger()
    text = window.about_box.informativeText()
    assert "torch" in text and "lightning" in text and "tensorflow" in text and "CUDA" in text
    assert window.session.qsettings.fileName() in text
    window.about_box.close()
    _action(window, "README (tour and command line)").trigger()
    dialog = window.readme_dialog
    qtbot.waitUntil(dialog.isVisible)
    view = dialog.findChild(QTextBrowser)
    assert "A short tour" in view.toPlainText()
    dialog.close()

"""The overrides form is generated from the schema, typed, validated, highlighted and resettable."""
from __future__ import annotations

import pytest
from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QSpinBox

from ptycho_engine import api

pytestmark = pytest.mark.gui


def test_form_is_generated_from_schema(window):
    form = window.train_form
    gui_fields = [f for f in api.training_fields() if f.gui and f.name not in {"train_data_file", "test_data_file", "output_dir", "model_path"}]
    assert set(form.editors) == {f.name for f in gui_fields}
    kinds = {f.name: type(form.editor(f.name).widget) for f in gui_fields}
    for spec in gui_fields:
        if spec.choices is not None:
            assert kinds[spec.name] is QComboBox, spec.name
        elif spec.base_type is bool:
            assert kinds[spec.name] is QCheckBox, spec.name
        elif spec.base_type is int and not spec.optional:
            assert kinds[spec.name] is QSpinBox, spec.name
        else:
            assert kinds[spec.name] is QLineEdit, spec.name
        assert spec.help.split()[0] in form.editor(spec.name).widget.toolTip()
    assert set(window.infer_form.editors) >= {"n_groups", "accelerator"}


def test_invalid_override_is_flagged_and_disables_train(qtbot, window):
    form = window.train_form
    assert window.train_button.isEnabled()
    edit = form.editor("learning_rate").widget
    edit.setText("fast")
    assert not form.is_valid()
    assert "learning_rate" in form.errors["learning_rate"].text()
    assert "c62828" in edit.styleSheet()  # red border
    assert not window.train_button.isEnabled()
    assert "learning_rate" in window.train_button.toolTip()
    assert "learning_rate" in window.reason_label.text()
    assert window.start_training() is False and window.job is None
    edit.setText("20")  # out of the schema's bounds
    assert not form.is_valid() and "[1e-08, 10]" in form.errors["learning_rate"].text()
    edit.setText("1e-3")
    assert form.is_valid() and window.train_button.isEnabled()


def test_values_are_typed_edited_fields_highlighted_and_reset(window):
    form = window.train_form
    form.editor("nphotons").widget.setText("1e9")  # the default, typed differently
    assert "nphotons" not in form.overrides()
    form.editor("nphotons").widget.setText("2.5e6")
    overrides = form.overrides()
    assert overrides["nphotons"] == 2.5e6 and isinstance(overrides["nphotons"], float)
    assert overrides["nepochs"] == 2 and overrides["n_groups"] == 16
    assert form.labels["nphotons"].font().bold()
    assert "fff4c2" in form.editor("nphotons").widget.styleSheet()
    assert not form.labels["gridsize"].font().bold()
    form.reset_defaults()
    # the GUI default for the required field, capped at the tiny scan's pattern count
    assert form.overrides() == {"n_groups": window.data_panel.summary.n_patterns}
    assert form.editor("nepochs").value() == 50


def test_accelerator_shows_cuda_availability(qtbot, window):
    with qtbot.waitSignal(window.cuda_checked, timeout=30_000) as blocker:
        window._cuda_requested.emit()
    available = blocker.args[0]
    assert available is api.cuda_available()
    note = window.train_form.notes["accelerator"].text()
    assert ("CUDA available" in note) if available else ("no CUDA" in note)
    assert window.cuda_label.text().startswith("CUDA:")

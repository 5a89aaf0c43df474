"""The overrides form is generated from the schema, typed, validated, highlighted and resettable."""
from __future__ import annotations

import pytest
from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QSpinBox

from app.widgets.overrides_form import RECORDED_ONLY, WINDOW_OWNED
from ptycho_engine import api

pytestmark = pytest.mark.gui


def test_form_is_generated_from_schema(window):
    form = window.train_form
    gui_fields = [f for f in api.training_fields() if f.gui and f.name not in WINDOW_OWNED | RECORDED_ONLY]
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
    assert "learning_rate needs a number such as" in form.errors["learning_rate"].text()  # plain words
    assert "c62828" in edit.styleSheet()  # red border
    assert not window.train_button.isEnabled()
    assert "learning_rate" in window.train_button.toolTip()
    assert "learning_rate" in window.reason_label.text()
    assert window.start_training() is False and window.job is None
    edit.setText("20")  # out of the schema's bounds
    assert not form.is_valid() and "between 1e-08 and 10" in form.errors["learning_rate"].text()
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


def test_basic_on_top_internals_folded_away(window):
    """Item 14: the operator's handful first, the framework internals in a folded section."""
    from app.form_tiers import BASIC_INFERENCE, BASIC_TRAINING

    for form, basic in ((window.train_form, BASIC_TRAINING), (window.infer_form, BASIC_INFERENCE)):
        keys = list(form.sections)
        assert keys[0] == "basic" and keys[-1] == "advanced"
        assert not form.sections["advanced"].content.isVisibleTo(form)  # folded
        assert form.sections["basic"].content.isVisibleTo(form)
        basic_box = form.sections["basic"].content
        assert [n for n in form.editors if basic_box.isAncestorOf(form.editors[n].widget)] == list(basic)
    advanced_box = window.train_form.sections["advanced"].content
    for name in ("strategy", "precision", "logger_backend", "enable_progress_bar", "num_workers"):
        assert advanced_box.isAncestorOf(window.train_form.editor(name).widget), name
    assert not advanced_box.isAncestorOf(window.train_form.editor("accelerator").widget)


def test_refinement_knobs_follow_refine_epochs(window):
    form = window.infer_form
    tolerance, probe, modes = (form.editor(n).widget for n in ("refine_tolerance", "refine_probe", "refine_probe_modes"))
    assert not tolerance.isEnabled() and "refine_epochs > 0" in form.notes["refine_tolerance"].text()
    form.editor("refine_epochs").widget.setValue(20)
    assert tolerance.isEnabled() and probe.isEnabled() and not modes.isEnabled()
    probe.setChecked(True)
    assert modes.isEnabled()
    assert form.overrides() == {"refine_epochs": 20, "refine_probe": True}


def test_errors_in_plain_words(window):
    form = window.train_form
    form.editor("nphotons").widget.setText("lots")
    assert form.errors["nphotons"].text() == "nphotons needs a number such as 0.001 or 1e6 (you typed 'lots')"
    form.editor("nphotons").widget.setText("")
    form.editor("n_groups").set_text("")
    form.editor("learning_rate").widget.setText("-1")
    assert form.first_error() == "learning_rate must be between 1e-08 and 10 (you typed -1.0)"

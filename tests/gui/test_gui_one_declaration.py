"""Learning rate and schedule: one declaration in the engine, one row in the training form."""
from __future__ import annotations

from PySide6.QtWidgets import QLabel


def test_learning_rate_and_scheduler_appear_once(window):
    form = window.train_form
    for name in ("learning_rate", "scheduler"):
        assert name in form.editors
        label = form.labels[name].text()
        rows = [w for w in form.findChildren(QLabel) if w.text() == label and w.isVisibleTo(form)]
        assert len(rows) <= 1, (name, label)  # at most one caption (folded sections hide theirs)
    form.set_texts({"learning_rate": "5e-4", "scheduler": "Exponential"})
    assert form.overrides()["learning_rate"] == 5e-4
    assert form.overrides()["scheduler"] == "Exponential"

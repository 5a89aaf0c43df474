"""The resolved configuration (name, value, source) of the last run or of an opened run."""
from __future__ import annotations

from typing import Any

from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHeaderView, QLabel, QLineEdit, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

SOURCE_COLOURS = {"override": "#fff4c2", "data_file": "#e3f2fd", "model_archive": "#e8f5e9"}


class ConfigTable(QWidget):
    """A filterable table; rows come from ``payload.overrides_applied`` or a run's config.json."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("No run configured yet. The resolved configuration appears after Train or Infer.")
        self.title.setWordWrap(True)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter by name…")
        self.filter.textChanged.connect(self._apply_filter)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Name", "Value", "Source"])
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setAlternatingRowColors(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSortingEnabled(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.title)
        layout.addWidget(self.filter)
        layout.addWidget(self.table, 1)
        self.rows: list[tuple[str, str, str]] = []

    def set_applied(self, title: str, applied: dict[str, Any]) -> None:
        """``applied``: name -> {"value": ..., "source": ...} (or name -> plain value)."""
        rows = []
        for name, entry in applied.items():
            if isinstance(entry, dict) and "value" in entry:
                rows.append((str(name), _text(entry["value"]), str(entry.get("source", ""))))
            else:
                rows.extend((n, v, "") for n, v in _flatten(str(name), entry))
        self._fill(title, rows)

    def _fill(self, title: str, rows: list[tuple[str, str, str]]) -> None:
        self.title.setText(title)
        self.rows = rows
        self.table.setRowCount(len(rows))
        for i, (name, value, source) in enumerate(rows):
            items = [QTableWidgetItem(name), QTableWidgetItem(value), QTableWidgetItem(source)]
            colour = SOURCE_COLOURS.get(source)
            for col, item in enumerate(items):
                if colour:
                    item.setBackground(QColor(colour))
                self.table.setItem(i, col, item)
        self._apply_filter(self.filter.text())

    def _apply_filter(self, text: str) -> None:
        needle = text.strip().lower()
        for i, (name, _v, _s) in enumerate(self.rows):
            self.table.setRowHidden(i, bool(needle) and needle not in name.lower())


def _text(value: Any) -> str:
    return "None" if value is None else str(value)


def _flatten(prefix: str, value: Any) -> list[tuple[str, str]]:
    if isinstance(value, dict):
        # provenance dicts nested inside config.json keep their source column
        out: list[tuple[str, str]] = []
        for k, v in value.items():
            out.extend(_flatten(f"{prefix}.{k}", v))
        return out
    return [(prefix, _text(value))]

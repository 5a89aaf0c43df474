"""Scan file choice and what the engine found in it (or why it refused it)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

NPZ_FILTER = "Ptychography scan (*.npz);;All files (*)"


def _local_npz(event: QDragEnterEvent | QDropEvent) -> str | None:
    """The first dropped local file, if any (extension checked by the engine, not here)."""
    mime = event.mimeData()
    if mime is None or not mime.hasUrls():
        return None
    for url in mime.urls():
        if url.isLocalFile():
            return url.toLocalFile()
    return None


class DataPanel(QGroupBox):
    """File picker (dialog, typed path or drag and drop) plus the scan summary.

    It only reports the chosen path (``file_chosen``); the window validates it off the GUI thread
    and calls :meth:`show_loading`, :meth:`show_summary` or :meth:`show_error`.
    """

    file_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Scan data", parent)
        self.setAcceptDrops(True)
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("NPZ scan file — browse, type a path or drop a file here")
        self.path_edit.returnPressed.connect(self._typed)
        self.browse_button = QPushButton("Browse…")
        self.browse_button.clicked.connect(self.browse)
        file_row = QHBoxLayout()
        file_row.addWidget(self.path_edit, 1)
        file_row.addWidget(self.browse_button)

        self.status_label = QLabel("No scan selected")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self._values: dict[str, QLabel] = {}
        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setVerticalSpacing(2)
        grid.setHorizontalSpacing(8)
        items = (
            ("patterns", "Patterns"),
            ("N", "Pattern size"),
            ("x", "x extent (px)"),
            ("y", "y extent (px)"),
            ("probe", "Probe"),
            ("gt", "Ground truth"),
            ("nphotons", "Photons/pattern"),
        )
        for i, (key, title) in enumerate(items):
            value = QLabel("—")
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self._values[key] = value
            r, col = divmod(i, 2)
            if key == "nphotons":  # the longest text gets a whole row
                r, col = (len(items) + 1) // 2, 0
            caption = QLabel(title + ":")
            caption.setStyleSheet("color: palette(dark);")
            grid.addWidget(caption, r, 2 * col)
            grid.addWidget(value, r, 2 * col + 1, 1, 3 if key == "nphotons" else 1)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        self.warnings_label = QLabel("")
        self.warnings_label.setWordWrap(True)
        self.warnings_label.setStyleSheet("color: #8a5a00;")
        self.warnings_label.hide()

        layout = QVBoxLayout(self)
        layout.addLayout(file_row)
        layout.addWidget(self.status_label)
        layout.addLayout(grid)
        layout.addWidget(self.warnings_label)
        self.summary: Any = None
        self.error: str | None = None

    # ---- user input -------------------------------------------------------------------------
    @Slot()
    def browse(self) -> None:
        start = str(Path(self.path_edit.text()).parent) if self.path_edit.text() else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open scan", start, NPZ_FILTER)
        if path:
            self.choose(path)

    @Slot()
    def _typed(self) -> None:
        if self.path_edit.text().strip():
            self.choose(self.path_edit.text().strip())

    def choose(self, path: str | Path) -> None:
        """Select ``path`` as the scan (same effect as the dialog or a drop)."""
        self.path_edit.setText(str(path))
        self.file_chosen.emit(str(path))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if _local_npz(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        path = _local_npz(event)
        if path:
            event.acceptProposedAction()
            self.choose(path)

    # ---- results ----------------------------------------------------------------------------
    def show_loading(self, path: str) -> None:
        self.summary, self.error = None, None
        self.path_edit.setText(path)
        self.status_label.setStyleSheet("color: palette(mid);")
        self.status_label.setText(f"Checking {Path(path).name}…")
        self._clear_values()

    def show_summary(self, summary: Any) -> None:
        """Fill the table from the engine's ScanSummary."""
        self.summary, self.error = summary, None
        self.status_label.setStyleSheet("color: #1b6e20;")
        self.status_label.setText(f"✔ {Path(summary.path).name}: valid scan")
        v = self._values
        v["patterns"].setText(f"{summary.n_patterns}")
        v["N"].setText(f"{summary.N} × {summary.N}")
        v["probe"].setText(" × ".join(str(s) for s in summary.probe_shape))
        v["x"].setText(_fmt_range(summary.x_range))
        v["y"].setText(_fmt_range(summary.y_range))
        v["gt"].setText("yes (objectGuess)" if summary.has_ground_truth else "no")
        if summary.nphotons is None:
            v["nphotons"].setText("not recorded in the file")
        else:
            v["nphotons"].setText(f"{summary.nphotons:.3g}  (from {summary.nphotons_source or 'file'})")
        warnings = list(getattr(summary, "warnings", []) or [])
        self.warnings_label.setText("\n".join(f"⚠ {w}" for w in warnings))
        self.warnings_label.setVisible(bool(warnings))

    def show_error(self, message: str) -> None:
        """Show the engine's contract error in place (red) — the window disables Train."""
        self.summary, self.error = None, message
        self.status_label.setStyleSheet("color: #c62828; font-weight: bold;")
        self.status_label.setText(f"✘ {message}")
        self._clear_values()

    def _clear_values(self) -> None:
        for value in self._values.values():
            value.setText("—")
        self.warnings_label.hide()


def _fmt_range(r: Any) -> str:
    try:
        lo, hi = r
        return f"{lo:.1f} … {hi:.1f}"
    except (TypeError, ValueError):
        return str(r)

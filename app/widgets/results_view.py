"""Inference results: stitched amplitude and phase, metrics, open-folder and export buttons."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .live_views import AmpPhaseViews


class ResultsView(QWidget):
    """Shows one reconstruction; buttons act on its run folder."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.images = AmpPhaseViews("Stitched")
        self.metrics = QTableWidget(0, 2)
        self.metrics.setHorizontalHeaderLabels(["Metric", "Value"])
        self.metrics.verticalHeader().setVisible(False)
        self.metrics.verticalHeader().setDefaultSectionSize(22)
        self.metrics.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.metrics.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.metrics.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.metrics_note = QLabel("No reconstruction yet. Train a model (or load one) and press Infer.")
        self.metrics_note.setWordWrap(True)
        self.open_button = QPushButton("Open run folder")
        self.open_button.clicked.connect(self.open_folder)
        self.export_button = QPushButton("Export images…")
        self.export_button.clicked.connect(self._export_dialog)
        for b in (self.open_button, self.export_button):
            b.setEnabled(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.metrics_note, 1)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.export_button)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(self.metrics)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.images)
        splitter.addWidget(side)
        splitter.setSizes([480, 160])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(splitter, 1)
        layout.addLayout(buttons)
        self.run_dir: Path | None = None

    def show_result(
        self,
        amplitude: np.ndarray | None,
        phase: np.ndarray | None,
        metrics: dict[str, Any] | None,
        run_dir: Path | None,
    ) -> None:
        self.images.set_images(amplitude, phase)
        self.run_dir = Path(run_dir) if run_dir else None
        self.open_button.setEnabled(self.run_dir is not None)
        self.export_button.setEnabled(amplitude is not None)
        rows = _flatten(metrics or {})
        self.metrics.setRowCount(len(rows))
        for i, (name, value) in enumerate(rows):
            self.metrics.setItem(i, 0, QTableWidgetItem(name))
            self.metrics.setItem(i, 1, QTableWidgetItem(value))
        self.metrics.setVisible(bool(rows))
        where = f" in {self.run_dir}" if self.run_dir else ""
        if rows:
            self.metrics_note.setText(f"Reconstruction{where}; metrics against the scan's ground truth.")
        else:
            self.metrics_note.setText(f"Reconstruction{where}. No ground truth in the scan, so no metrics.")

    @Slot()
    def open_folder(self) -> None:
        if self.run_dir is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.run_dir)))

    @Slot()
    def _export_dialog(self) -> None:
        start = str(self.run_dir or Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Export images to", start)
        if folder:
            self.export_images(Path(folder))

    def export_images(self, folder: Path) -> list[Path]:
        """Write amplitude and phase views (with axes and colour bars) as PNG files."""
        folder.mkdir(parents=True, exist_ok=True)
        return [
            self.images.amplitude.export_png(folder / "stitched_amplitude.png"),
            self.images.phase.export_png(folder / "stitched_phase.png"),
        ]


def _flatten(metrics: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows.extend(_flatten(value, name + "."))
        elif isinstance(value, float):
            rows.append((name, f"{value:.4g}"))
        elif isinstance(value, (list, tuple)) and len(value) > 6:
            rows.append((name, f"[{len(value)} values]"))
        else:
            rows.append((name, str(value)))
    return rows

"""Inference results: stitched amplitude and phase, metrics, the model's other reconstructions,
open-folder and export buttons."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .. import export
from ..dialogs import error_dialog
from ..display import display_phase, hsv_image
from ..metrics_table import comparison_note, metric_table, refinement_note, short_header
from ..truth_views import TruthImages, truth_images
from .amp_phase import AmpPhaseViews


class ResultsView(QWidget):
    """Shows one reconstruction; buttons act on its run folder. ``status`` carries one-line
    confirmations for the status bar; ``open_requested`` asks the window to open a folder."""

    status = Signal(str)
    open_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.images = AmpPhaseViews("Stitched")
        self.view_choice = QComboBox()
        self.view_choice.setToolTip("What to show: the reconstruction, the network's own object before "
                                    "refinement, the refined probe, the scan positions before/after refinement")
        self.view_choice.currentIndexChanged.connect(self._redraw)
        self.mask_box = QCheckBox("Mask weak amplitude")
        self.mask_box.setChecked(True)
        self.mask_box.setToolTip("Blank the phase where the amplitude or the illumination is under 5 % of its "
                                 "maximum: there the phase is noise")
        self.ramp_box = QCheckBox("Remove phase ramp")
        self.ramp_box.setToolTip("Also remove a linear phase ramp (the global offset is always removed)")
        for box in (self.mask_box, self.ramp_box):
            box.toggled.connect(self._redraw)
        self.positions_plot = pg.PlotWidget(title="Scan positions: initial (grey) and refined (red)")
        self.positions_plot.setAspectLocked(True)
        self.positions_plot.invertY(True)
        self.positions_plot.setLabel("bottom", "x (px)")
        self.positions_plot.setLabel("left", "y (px)")
        self.positions_plot.addLegend(offset=(-10, 10))
        self.complex_view = pg.GraphicsLayoutWidget()
        self.complex_plot = self.complex_view.addPlot(title="Complex object: hue = phase, brightness = amplitude")
        self.complex_plot.setAspectLocked(True)
        self.complex_plot.invertY(True)
        self.complex_image = pg.ImageItem()
        self.complex_plot.addItem(self.complex_image)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.images)
        self.stack.addWidget(self.positions_plot)
        self.stack.addWidget(self.complex_view)
        self.metrics = QTableWidget(0, 0)
        self.metrics.verticalHeader().setVisible(False)
        self.metrics.verticalHeader().setDefaultSectionSize(22)
        self.metrics.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.metrics.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.metrics_note = QLabel("No reconstruction yet. Train a model (or load one) and press Infer.")
        self.metrics_note.setWordWrap(True)
        self.open_button = QPushButton("Open run folder")
        self.open_button.clicked.connect(self.open_folder)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("PNG as shown (with colour bars), TIFF float32 data, NPY / NPZ complex object")
        self.export_button.clicked.connect(self._export_dialog)
        for b in (self.open_button, self.export_button):
            b.setEnabled(False)
        top = QHBoxLayout()
        top.addWidget(QLabel("Show:"))
        top.addWidget(self.view_choice, 1)
        top.addWidget(self.mask_box)
        top.addWidget(self.ramp_box)
        buttons = QHBoxLayout()
        buttons.addWidget(self.metrics_note, 1)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.export_button)
        self.recon_label = QLabel("Reconstructions made with this model (double-click to open):")
        self.recon_label.setWordWrap(True)
        self.recon_list = QListWidget()
        self.recon_list.itemActivated.connect(self._open_item)
        self.recon_box = QWidget()  # beside the metrics: hidden while the model has made none
        recon_layout = QVBoxLayout(self.recon_box)
        recon_layout.setContentsMargins(0, 0, 0, 0)
        recon_layout.addWidget(self.recon_label)
        recon_layout.addWidget(self.recon_list, 1)
        self.recon_box.hide()
        side = QSplitter(Qt.Orientation.Horizontal)
        side.addWidget(self.metrics)
        side.addWidget(self.recon_box)
        side.setSizes([600, 300])
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.stack)
        splitter.addWidget(side)
        splitter.setSizes([480, 140])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        layout.addLayout(buttons)
        self.run_dir: Path | None = None
        self.object: np.ndarray | None = None
        self.amplitude_data: np.ndarray | None = None  # as stored (exports write these, not the display)
        self.phase_data: np.ndarray | None = None
        self.extras: dict[str, Any] = {}
        self.reference: np.ndarray | None = None  # the scan's objectGuess, for truth / difference
        self.truth: TruthImages | None = None
        self.last_dialog: QMessageBox | None = None

    def set_reference(self, reference: np.ndarray | None) -> None:
        """The ground truth (objectGuess) of the scan the next result reconstructs; None: none."""
        self.reference = None if reference is None else np.asarray(reference)

    def show_result(
        self,
        amplitude: np.ndarray | None,
        phase: np.ndarray | None,
        metrics: dict[str, Any] | None,
        run_dir: Path | None,
        obj: np.ndarray | None = None,
        extras: dict[str, Any] | None = None,
    ) -> None:
        """Show one reconstruction; ``obj`` is the complex object (for data export), ``extras``
        what else the engine produced (object_network, weight, probe_refined, positions_initial /
        positions_refined, refinement) — each shown when present."""
        self.amplitude_data = None if amplitude is None else np.asarray(amplitude, np.float32)
        self.phase_data = None if phase is None else np.asarray(phase, np.float32)
        if obj is None and amplitude is not None and phase is not None:
            obj = np.asarray(amplitude) * np.exp(1j * np.asarray(phase))
        self.object = None if obj is None else np.asarray(obj)
        self.extras = dict(extras or {})
        self.run_dir = Path(run_dir) if run_dir else None
        self.truth = truth_images(self.object, self.reference, metrics)
        self._fill_choices()
        self._redraw()
        self.open_button.setEnabled(self.run_dir is not None)
        self.export_button.setEnabled(amplitude is not None)
        headers, rows = metric_table(metrics)
        self.metrics.clear()
        self.metrics.setColumnCount(len(headers))
        for j, full in enumerate(headers):  # short headers fit a narrow window; full names on hover
            item = QTableWidgetItem(short_header(full))
            item.setToolTip(full)
            self.metrics.setHorizontalHeaderItem(j, item)
        if headers:
            self.metrics.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.metrics.setRowCount(len(rows))
        for i, row in enumerate(rows):
            for j, text in enumerate(row):
                self.metrics.setItem(i, j, QTableWidgetItem(text))
        self.metrics.setVisible(bool(rows))
        where = f"Reconstruction in {self.run_dir}. " if self.run_dir else ""
        refined = refinement_note(self.extras.get("refinement") or (metrics or {}).get("refinement"))
        scores = comparison_note(metrics) if rows else "No ground truth in the scan, so no metrics."
        self.metrics_note.setText(f"{where}{refined + ' ' if refined else ''}{scores}")

    # ---- what to show -------------------------------------------------------------------------
    def _fill_choices(self) -> None:
        """The views this result has: the object, the network's own object, the refined probe,
        the positions before/after refinement."""
        refined = self.extras.get("object_network") is not None
        choices = [("Refined object" if refined else "Reconstructed object", "object")]
        if self.object is not None:
            choices.append(("Complex view (hue = phase, brightness = amplitude)", "complex"))
        if refined:
            choices.append(("Network-only object (before refinement)", "object_network"))
        if self.truth is not None:
            choices.append(("Ground truth (compared region)", "truth"))
            choices.append(("Difference (reconstruction − truth)", "difference"))
        if self.extras.get("probe_refined") is not None:
            choices.append(("Refined probe", "probe_refined"))
        if self.extras.get("positions_refined") is not None:
            choices.append(("Scan positions: initial and refined", "positions"))
        self.view_choice.blockSignals(True)
        current = self.view_choice.currentData()
        self.view_choice.clear()
        for text, key in choices:
            self.view_choice.addItem(text, key)
        keys = [k for _, k in choices]
        self.view_choice.setCurrentIndex(keys.index(current) if current in keys else 0)
        self.view_choice.blockSignals(False)
        self.view_choice.setEnabled(len(choices) > 1)

    def shown(self) -> str:
        """The key of the view shown ('object', 'object_network', 'probe_refined', 'positions')."""
        return self.view_choice.currentData() or "object"

    def show_view(self, key: str) -> bool:
        """Switch to one of the available views; False when this result does not have it."""
        index = self.view_choice.findData(key)
        if index < 0:
            return False
        self.view_choice.setCurrentIndex(index)
        return True

    @Slot()
    def _redraw(self) -> None:
        key = self.shown()
        if key == "positions":
            self._draw_positions()
            self.stack.setCurrentWidget(self.positions_plot)
            return
        if key == "complex" and self.object is not None:
            # the same offset (and ramp) removal as the phase view, so the hues match it
            phase = display_phase(self.object, self.extras.get("weight"), mask=False,
                                  remove_ramp=self.ramp_box.isChecked())
            obj = np.abs(self.object) * np.exp(1j * phase)
            self.complex_image.setImage(hsv_image(obj))
            self.complex_plot.autoRange(padding=0.0)
            self.stack.setCurrentWidget(self.complex_view)
            return
        self.stack.setCurrentWidget(self.images)
        if key in ("truth", "difference") and self.truth is not None:
            self._draw_truth(key, self.truth)
            return
        if key == "probe_refined":
            data, weight, title = np.asarray(self.extras["probe_refined"]), None, "Refined probe"
            if data.ndim == 3:  # incoherent modes: the strongest one
                data, title = data[0], f"Refined probe (mode 1 of {len(data)})"
        elif key == "object_network":
            data, weight, title = np.asarray(self.extras["object_network"]), self.extras.get("weight"), "Network-only"
        else:
            data, weight, title = self.object, self.extras.get("weight"), "Stitched"
        self.images.title = title
        self.images.phase_note = " (rad, offset and ramp removed)" if self.ramp_box.isChecked() else \
            " (rad, offset removed)"
        if data is None:
            self.images.set_images(None, None)
            return
        phase = display_phase(data, weight, mask=self.mask_box.isChecked(), remove_ramp=self.ramp_box.isChecked())
        self.images.set_images(np.abs(data).astype(np.float32), phase)

    def _draw_truth(self, key: str, truth: TruthImages) -> None:
        """Truth or difference as the metrics saw them (their shift, phase plane and amplitude scale)."""
        if key == "truth":
            self.images.title, self.images.phase_note = "Ground truth", " (rad)"
            self.images.set_images(truth.amplitude_truth, truth.phase_truth)
        else:
            self.images.title = "Reconstruction − truth"
            self.images.phase_note = " (rad, after the metrics' offset/ramp removal)"
            self.images.set_images(truth.amplitude_difference, truth.phase_difference)

    def _draw_positions(self) -> None:
        plot = self.positions_plot
        plot.clear()
        before, after = self.extras.get("positions_initial"), self.extras.get("positions_refined")
        if before is not None:
            b = np.asarray(before, float)
            plot.plot(b[:, 0], b[:, 1], pen=None, symbol="o", symbolSize=5, symbolBrush=(120, 120, 120, 180),
                      name="initial")
        if after is not None:
            a = np.asarray(after, float)
            plot.plot(a[:, 0], a[:, 1], pen=None, symbol="x", symbolSize=7, symbolPen="#d62728", name="refined")

    def set_reconstructions(self, model_dir: Path | None, folders: list[Path]) -> None:
        """List the reconstructions made with the model in ``model_dir`` (newest first)."""
        self.recon_list.clear()
        for folder in folders:
            item = QListWidgetItem(folder.name)
            item.setData(Qt.ItemDataRole.UserRole, str(folder))
            item.setToolTip(str(folder))
            self.recon_list.addItem(item)
        shown = bool(folders)
        self.recon_label.setText(f"{len(folders)} reconstruction(s) made with {model_dir.name if model_dir else 'this model'}"
                                 " (double-click to open):")
        self.recon_box.setVisible(shown)

    def reconstruction_folders(self) -> list[str]:
        return [self.recon_list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.recon_list.count())]

    @Slot(QListWidgetItem)
    def _open_item(self, item: QListWidgetItem) -> None:
        self.open_requested.emit(str(item.data(Qt.ItemDataRole.UserRole)))

    @Slot()
    def open_folder(self) -> None:
        """Open the run folder in the file manager; where none opens, show the path (copied)."""
        if self.run_dir is None:
            return
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.run_dir))):
            QGuiApplication.clipboard().setText(str(self.run_dir))
            box = QMessageBox(self)
            box.setIcon(QMessageBox.Icon.Information)
            box.setWindowTitle("Run folder")
            box.setText("No file manager could be opened here. The run folder is:")
            box.setInformativeText(f"{self.run_dir}\n\n(The path has been copied to the clipboard.)")
            box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            box.open()
            self.last_dialog = box
            self.status.emit(f"Copied the run folder's path: {self.run_dir}")

    @Slot()
    def _export_dialog(self) -> None:
        start = str((self.run_dir or Path.home()) / "export")
        path, chosen = QFileDialog.getSaveFileName(self, "Export the reconstruction", start,
                                                   ";;".join(export.FORMATS.values()))
        if path:
            self.export_to(Path(path), export.format_of(Path(path), chosen))

    def export_to(self, path: Path, fmt: str = "png") -> list[Path]:
        """Export in ``fmt`` (png, tif, npy, npz); an error dialog on failure, a status line with
        the path(s) on success. Returns the files written ([] on failure)."""
        amp, phase = self.amplitude_data, self.phase_data
        if amp is None or phase is None:
            return []
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if fmt == "png":
                files = export.targets(path, "png")
                self.images.amplitude.export_png(files[0])
                self.images.phase.export_png(files[1])
            else:
                files = export.write_data(path, fmt, self.object, amp, phase)
        except (OSError, ValueError) as exc:
            self.last_dialog = error_dialog(self, "Export failed", f"Could not export to {path.parent}: {exc}")
            return []
        self.status.emit(f"Exported {len(files)} file(s): " + ", ".join(str(f) for f in files))
        return files

    def export_images(self, folder: Path) -> list[Path]:
        """The views as shown (PNG) in ``folder``; kept for scripts and older tests."""
        return self.export_to(folder / "stitched", "png")


def result_extras(result: Any) -> dict[str, Any]:
    """What the results view can show beyond the stitched object (attributes the engine may add
    later are read with getattr, so this works before and after they land)."""
    extras: dict[str, Any] = {}
    files = getattr(result, "files", None) or {}
    rec = files.get("reconstruction") if isinstance(files, dict) else None
    if rec is not None and Path(rec).is_file():
        import numpy as np

        with np.load(rec, allow_pickle=False) as data:
            for name in ("object_network", "probe_refined", "positions_initial", "positions_refined"):
                if name in data.files:
                    extras[name] = data[name]
    if getattr(result, "weight", None) is not None:
        extras["weight"] = result.weight
    for name in ("probe_refined", "positions_initial", "positions_refined", "refinement"):
        value = getattr(result, name, None)
        if value is not None:
            extras[name] = value
    return extras

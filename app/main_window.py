"""The main window: wires the panels, the two worker threads and the session settings.

Layout: left column = what to run (scan, output folder, model, generated parameter forms, the
run buttons and progress); right = what happened (tabs: Scan previews, Training live views,
Reconstruction, Configuration) above the log. Everything slow happens in worker threads; this
class only reacts to queued signals in its ``@Slot`` methods.
"""
from __future__ import annotations

import logging

import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, QThread, QTimer, Signal, Slot
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QGroupBox,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ptycho_engine import api
from ptycho_engine.events import EpochEnd, Preview, StepProgress

from . import dialogs
from .menus import build_menus
from .plotting import configure_pyqtgraph
from .settings import SessionStore
from .widgets.config_table import ConfigTable
from .widgets.data_panel import DataPanel
from .widgets.live_views import TrainingViews
from .widgets.log_pane import LogPane
from .widgets.output_panel import OutputPanel
from .widgets.overrides_form import OverridesForm
from .widgets.results_view import ResultsView
from .widgets.run_panel import RunPanel
from .widgets.scan_views import ScanViews
from .worker import EngineWorker, IoWorker, Job

# Fields the factory needs but the schema leaves empty; a value that suits the demo scan.
TRAINING_GUI_DEFAULTS: dict[str, Any] = {"n_groups": 512}
PREVIEW_INTERVAL_MS = 150  # at most ~7 image redraws per second, whatever the engine sends


def default_output_dir() -> Path:
    return Path.home() / "PtychoStudio" / "runs" / time.strftime("run-%Y%m%d-%H%M%S")


class MainWindow(QMainWindow):
    """Ptycho Studio's only window. GUI-thread signals below exist so tests can wait on them."""

    scan_loaded = Signal(object)  # ScanSummary
    scan_failed = Signal(str)
    epoch_ended = Signal(object)  # EpochEnd
    preview_shown = Signal(int)  # epoch of the preview drawn
    payload_ready = Signal(str, object)
    training_finished = Signal(object)  # TrainResult
    inference_finished = Signal(object)  # InferenceResult
    run_cancelled = Signal(str)  # kind
    run_failed = Signal(str)  # message
    run_opened = Signal(object)  # RunRecord
    cuda_checked = Signal(bool)

    # requests to the workers (queued: the receivers live in other threads)
    _job_requested = Signal(object)
    _scan_requested = Signal(int, str)
    _cuda_requested = Signal()
    _run_requested = Signal(str)

    def __init__(
        self,
        settings: QSettings | None = None,
        data_file: str | Path | None = None,
        output_dir: str | Path | None = None,
        check_cuda: bool = True,
    ) -> None:
        configure_pyqtgraph()
        super().__init__()
        self.setWindowTitle("Ptycho Studio — PINN ptychographic reconstruction")
        self.session = SessionStore(settings)
        self.model_dir: Path | None = None
        self.job: Job | None = None
        self.last_error_dialog: QMessageBox | None = None
        self.pending_question: QMessageBox | None = None
        self._scan_request = 0
        self._scan_loading = False
        self._pending_preview: Preview | None = None
        self._n_epochs: int | None = None
        self.last_payload: Any = None

        self.resize(1500, 940)
        self._build_widgets()
        self.run_actions = build_menus(self)
        self._start_workers()
        self.log_pane.attach()
        self._restore_session(data_file, output_dir)
        self._update_actions()
        if check_cuda:
            QTimer.singleShot(200, self._cuda_requested.emit)  # imports torch off the startup path

    # ================================================================ construction
    def _build_widgets(self) -> None:
        self.data_panel = DataPanel()
        self.data_panel.file_chosen.connect(self.set_data_file)

        self.output_panel = OutputPanel()
        self.output_panel.changed.connect(self._update_actions)
        self.output_panel.model_folder_chosen.connect(self._model_folder_chosen)
        self.output_edit = self.output_panel.output_edit

        self.params_tabs = QTabWidget()
        self.train_form = self._make_form("training", api.training_fields, TRAINING_GUI_DEFAULTS)
        self.infer_form = self._make_form("inference", api.inference_fields, {})
        self.params_tabs.addTab(self._form_or_error(self.train_form), "Training parameters")
        self.params_tabs.addTab(self._form_or_error(self.infer_form), "Inference parameters")
        params_box = QGroupBox("Parameters (from the engine's schema; hover a field for help)")
        QVBoxLayout(params_box).addWidget(self.params_tabs)

        self.run_panel = RunPanel()
        self.run_panel.train_button.clicked.connect(self.start_training)
        self.run_panel.infer_button.clicked.connect(self.start_inference)
        self.run_panel.cancel_button.clicked.connect(self.cancel_run)
        # short names used by tests and by the status logic
        self.train_button = self.run_panel.train_button
        self.infer_button = self.run_panel.infer_button
        self.cancel_button = self.run_panel.cancel_button
        self.progress_label = self.run_panel.progress_label
        self.reason_label = self.run_panel.reason_label

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(6, 6, 6, 6)
        left_layout.addWidget(self.data_panel)
        left_layout.addWidget(self.output_panel)
        left_layout.addWidget(params_box, 1)
        left_layout.addWidget(self.run_panel)
        left.setMinimumWidth(400)

        self.scan_views = ScanViews()
        self.training_views = TrainingViews()
        self.results_view = ResultsView()
        self.config_table = ConfigTable()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.scan_views, "Scan")
        self.tabs.addTab(self.training_views, "Training")
        self.tabs.addTab(self.results_view, "Reconstruction")
        self.tabs.addTab(self.config_table, "Configuration")

        self.log_pane = LogPane()
        log_box = QGroupBox("Log")
        log_layout = QVBoxLayout(log_box)
        log_layout.setContentsMargins(4, 4, 4, 4)
        log_layout.addWidget(self.log_pane)

        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.tabs)
        right.addWidget(log_box)
        right.setStretchFactor(0, 4)
        right.setStretchFactor(1, 1)
        right.setSizes([720, 180])

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([480, 1020])
        self.setCentralWidget(splitter)

        self.status_message = QLabel("")
        self.cuda_label = QLabel("CUDA: not checked yet")
        self.statusBar().addWidget(self.status_message, 1)
        self.statusBar().addPermanentWidget(self.cuda_label)

        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(PREVIEW_INTERVAL_MS)
        self._preview_timer.timeout.connect(self._draw_preview)

    def _make_form(self, kind: str, fields_fn, gui_defaults: dict[str, Any]) -> OverridesForm | str:
        """Build a form from the schema; if the engine cannot give the schema, say why instead."""
        try:
            fields = fields_fn()
        except Exception as exc:  # noqa: BLE001 - keep the window usable
            return f"The {kind} parameters are unavailable: {type(exc).__name__}: {exc}"
        form = OverridesForm(fields, gui_defaults)
        form.changed.connect(self._update_actions)
        return form

    @staticmethod
    def _form_or_error(form: OverridesForm | str) -> QWidget:
        if isinstance(form, OverridesForm):
            return form
        label = QLabel(form)
        label.setWordWrap(True)
        label.setStyleSheet("color: #c62828;")
        return label

    def _start_workers(self) -> None:
        self.engine_thread = QThread(self)
        self.engine_thread.setObjectName("engine")
        self.engine_worker = EngineWorker()
        self.engine_worker.moveToThread(self.engine_thread)
        self._job_requested.connect(self.engine_worker.run_job)
        w = self.engine_worker
        w.log.connect(self.log_pane.append_line)
        w.step.connect(self._on_step)
        w.epoch.connect(self._on_epoch)
        w.preview.connect(self._on_preview)
        w.payload_ready.connect(self._on_payload)
        w.finished.connect(self._on_finished)
        w.cancelled.connect(self._on_cancelled)
        w.failed.connect(self._on_failed)
        self.engine_thread.finished.connect(self.engine_worker.deleteLater)
        self.engine_thread.start()

        self.io_thread = QThread(self)
        self.io_thread.setObjectName("io")
        self.io_worker = IoWorker()
        self.io_worker.moveToThread(self.io_thread)
        self._scan_requested.connect(self.io_worker.load_scan)
        self._cuda_requested.connect(self.io_worker.check_cuda)
        self._run_requested.connect(self.io_worker.load_run)
        self.io_worker.scan_loaded.connect(self._on_scan_loaded)
        self.io_worker.scan_failed.connect(self._on_scan_failed)
        self.io_worker.cuda_checked.connect(self._on_cuda)
        self.io_worker.run_loaded.connect(self._on_run_loaded)
        self.io_worker.run_failed.connect(self._on_run_failed)
        self.io_thread.finished.connect(self.io_worker.deleteLater)
        self.io_thread.start()

    def _restore_session(self, data_file: str | Path | None, output_dir: str | Path | None) -> None:
        s = self.session
        if isinstance(self.train_form, OverridesForm):
            saved = s.overrides("training")
            self.train_form.set_texts(saved)
            first_launch = not saved and s.data_file is None and data_file is None
            if first_launch and api.demo_preset_path().is_file():
                self.apply_preset(api.demo_preset_path())  # Train on the demo finishes in minutes
        if isinstance(self.infer_form, OverridesForm):
            self.infer_form.set_texts(s.overrides("inference"))
        model = s.model_dir
        if model is not None and (model / "wts.h5.zip").is_file():
            self.set_model_dir(model)
        geometry = s.geometry()
        if geometry:
            self.restoreGeometry(geometry)
        out = output_dir or s.output_dir or default_output_dir()
        self.output_edit.setText(str(out))
        data = data_file or s.data_file
        if data is None or not Path(data).exists():
            data = data_file or api.demo_dataset_path()
        self.set_data_file(str(data))

    # ================================================================ state
    @property
    def scan_busy(self) -> bool:
        """True while the chosen scan is being checked in the IO thread."""
        return self._scan_loading

    @property
    def output_dir(self) -> Path | None:
        return self.output_panel.output_dir

    def train_block_reason(self) -> str | None:
        """Why Train is disabled right now (None = it may run)."""
        if self.job is not None:
            return "A run is in progress."
        if self._scan_loading:
            return "Checking the scan file…"
        if self.data_panel.error:
            return f"The scan file is not usable: {self.data_panel.error}"
        if self.data_panel.summary is None:
            return "Choose a scan file (NPZ)."
        if not isinstance(self.train_form, OverridesForm):
            return self.train_form
        if not self.train_form.is_valid():
            return f"Fix the training parameters: {self.train_form.first_error()}"
        if self.output_dir is None:
            return "Choose an output folder."
        return None

    def infer_block_reason(self) -> str | None:
        if self.job is not None:
            return "A run is in progress."
        if self._scan_loading:
            return "Checking the scan file…"
        if self.data_panel.error:
            return f"The scan file is not usable: {self.data_panel.error}"
        if self.data_panel.summary is None:
            return "Choose a scan file (NPZ) to reconstruct."
        if self.model_dir is None:
            return "No model yet: train one, or use Load model…"
        if not isinstance(self.infer_form, OverridesForm):
            return self.infer_form
        if not self.infer_form.is_valid():
            return f"Fix the inference parameters: {self.infer_form.first_error()}"
        if self.output_dir is None:
            return "Choose an output folder."
        return None

    @Slot()
    def _update_actions(self) -> None:
        train_reason = self.train_block_reason()
        infer_reason = self.infer_block_reason()
        running = self.job is not None
        self.run_panel.set_allowed(train_reason, infer_reason, running)
        if self._scan_loading:
            self.reason_label.setText("")  # transient: no red text while the file is checked
        self.run_actions["train"].setEnabled(train_reason is None)
        self.run_actions["infer"].setEnabled(infer_reason is None)
        self.run_actions["cancel"].setEnabled(running)
        if not running:
            self.status_message.setText(train_reason or "Ready to train.")

    # ================================================================ scan
    @Slot(str)
    def set_data_file(self, path: str) -> None:
        """Validate ``path`` in the IO thread; the panel shows the result when it arrives."""
        self._scan_request += 1
        self._scan_loading = True
        self.data_panel.show_loading(path)
        self.scan_views.set_preview(None)
        self._update_actions()
        self._scan_requested.emit(self._scan_request, path)

    @Slot(int, object, object)
    def _on_scan_loaded(self, request: int, summary: Any, preview: Any) -> None:
        if request != self._scan_request:
            return  # a newer file was chosen meanwhile
        self._scan_loading = False
        self.data_panel.show_summary(summary)
        self.scan_views.set_preview(preview)
        if isinstance(self.train_form, OverridesForm):  # at gridsize 1 a group is one pattern
            self.train_form.adapt_default("n_groups", min(TRAINING_GUI_DEFAULTS["n_groups"], summary.n_patterns))
        self.session.data_file = Path(summary.path)
        self._update_actions()
        self.scan_loaded.emit(summary)

    @Slot(int, str, str)
    def _on_scan_failed(self, request: int, message: str, path: str) -> None:
        if request != self._scan_request:
            return
        self._scan_loading = False
        self.data_panel.show_error(message)
        self._update_actions()
        self.log_pane.append_line("ERROR", f"Scan rejected: {message}")
        self.scan_failed.emit(message)

    @Slot()
    def open_demo(self) -> None:
        self.data_panel.choose(str(api.demo_dataset_path()))

    @Slot()
    def apply_preset(self, path: Path) -> bool:
        """Fill the training form from a TOML settings file (the CLI's --config format)."""
        if not isinstance(self.train_form, OverridesForm):
            return False
        try:
            values = api.read_settings_file(path)
        except ValueError as exc:
            self._show_error("Could not read the settings file", str(exc))
            return False
        unknown = sorted(set(values) - set(self.train_form.editors))
        self.train_form.set_texts({k: str(v) for k, v in values.items() if k not in unknown})
        note = f" (ignored unknown names: {', '.join(unknown)})" if unknown else ""
        logging.getLogger("ptycho_engine").info("Applied settings from %s%s", path, note)
        return True

    @Slot()
    def apply_demo_preset(self) -> None:
        self.apply_preset(api.demo_preset_path())

    def open_demo_test(self) -> None:
        self.data_panel.choose(str(api.demo_test_dataset_path()))

    # ================================================================ output / model / runs
    @Slot(str)
    def _model_folder_chosen(self, folder: str) -> None:
        self.load_model(Path(folder))

    def load_model(self, folder: Path) -> bool:
        """Use the model in ``folder`` for inference; explains in a dialog if it holds none."""
        if not (Path(folder) / "wts.h5.zip").is_file():
            self._show_error("Not a trained model", f"{folder} does not contain wts.h5.zip.")
            return False
        self.set_model_dir(Path(folder))
        self.log_pane.append_line("INFO", f"Model selected: {folder}")
        return True

    def set_model_dir(self, folder: Path | None) -> None:
        self.model_dir = folder
        self.output_panel.show_model(folder)
        if folder is not None:
            self.session.model_dir = folder
        self._update_actions()

    @Slot()
    def browse_run(self) -> None:
        start = str(self.output_dir.parent if self.output_dir else Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Open run folder", start)
        if folder:
            self.open_run(Path(folder))

    def open_run(self, folder: Path) -> None:
        """Show an earlier run (history, images, configuration); read in the IO thread."""
        self._run_requested.emit(str(folder))

    @Slot(object)
    def _on_run_loaded(self, record: Any) -> None:
        if record.is_empty:
            self._show_error("Nothing to show", f"{record.path} does not look like a Ptycho Studio run.")
            return
        if record.history:
            self.training_views.loss.set_history(record.history)
        if record.preview:
            self.training_views.images.set_images(
                record.preview.get("amplitude"), record.preview.get("phase"), "last saved preview"
            )
        if record.reconstruction:
            rec = record.reconstruction
            self.results_view.show_result(rec.get("amplitude"), rec.get("phase"), record.metrics, record.path)
        if record.config:
            applied = record.config.get("overrides_applied", record.config)
            self.config_table.set_applied(f"Configuration of {record.path}", applied)
        if record.archive_path is not None:
            self.set_model_dir(record.path)
        self.tabs.setCurrentWidget(self.results_view if record.reconstruction and not record.history else self.training_views)
        self.log_pane.append_line("INFO", f"Opened run {record.path}")
        self.run_opened.emit(record)

    @Slot(str, str)
    def _on_run_failed(self, message: str, details: str) -> None:
        self._show_error("Could not open the run", message, details)

    # ================================================================ runs
    @Slot()
    def start_training(self) -> bool:
        """Train with the current scan, folder and overrides (asks before overwriting a run)."""
        reason = self.train_block_reason()
        if reason:
            self.status_message.setText(reason)
            return False
        out = self.output_dir
        assert out is not None
        if dialogs.holds_run(out):
            self.pending_question = dialogs.ask_overwrite(self, out, lambda: self._launch("train", out))
            return False
        self._launch("train", out)
        return True

    def inference_output_dir(self) -> Path:
        """Inference writes next to, not over, a training run: <output>/inference-<scan>."""
        out = self.output_dir
        assert out is not None
        stem = Path(self.data_panel.path_edit.text()).stem or "scan"
        if dialogs.holds_run(out) or (self.model_dir is not None and out.resolve() == self.model_dir.resolve()):
            return out / f"inference-{stem}"
        return out

    @Slot()
    def start_inference(self) -> bool:
        reason = self.infer_block_reason()
        if reason:
            self.status_message.setText(reason)
            return False
        out = self.inference_output_dir()
        if dialogs.holds_run(out, dialogs.INFERENCE_MARKERS + dialogs.RUN_MARKERS):
            self.pending_question = dialogs.ask_overwrite(self, out, lambda: self._launch("infer", out))
            return False
        self._launch("infer", out)
        return True

    def _launch(self, kind: str, out: Path) -> None:
        if self.job is not None:
            return
        form = self.train_form if kind == "train" else self.infer_form
        assert isinstance(form, OverridesForm)
        self.job = Job(
            kind=kind,
            data_file=Path(self.data_panel.path_edit.text()),
            output_dir=out,
            overrides=form.overrides(),
            model_dir=self.model_dir if kind == "infer" else None,
        )
        self._save_session()
        self._n_epochs = None
        if kind == "train":
            self.training_views.loss.clear_history()
            self.tabs.setCurrentWidget(self.training_views)
        self.run_panel.start(kind)
        self.log_pane.append_line("INFO", f"Starting {kind} → {out} with overrides {self.job.overrides}")
        self._update_actions()
        self.status_message.setText(f"{'Training' if kind == 'train' else 'Inference'} running…")
        self._job_requested.emit(self.job)

    @Slot()
    def cancel_run(self) -> None:
        """Ask the engine to stop; it finishes the current batch and keeps the last good model."""
        if self.job is None:
            return
        self.job.cancel.cancel()
        self.run_panel.cancelling()
        self.run_actions["cancel"].setEnabled(False)
        self.log_pane.append_line("WARNING", "Cancel requested")

    @Slot(str, object)
    def _on_payload(self, kind: str, payload: Any) -> None:
        self.last_payload = payload
        applied = getattr(payload, "overrides_applied", None) or {}
        what = "training" if kind == "train" else "inference"
        self.config_table.set_applied(
            f"Resolved {what} configuration: {len(applied)} values and where each came from", applied
        )
        cfg = getattr(payload, "tf_training_config", None)
        if cfg is not None:
            self._n_epochs = getattr(cfg, "nepochs", None)
        self.payload_ready.emit(kind, payload)

    @Slot(object)
    def _on_step(self, step: StepProgress) -> None:
        if self.job is not None:
            self.run_panel.show_step(self.job.kind, step, self._n_epochs)

    @Slot(object)
    def _on_epoch(self, epoch: EpochEnd) -> None:
        self._n_epochs = epoch.n_epochs
        self.training_views.loss.add_epoch(epoch.epoch, epoch.train_loss, epoch.val_loss)
        val = "—" if epoch.val_loss is None else f"{epoch.val_loss:.4g}"
        self.log_pane.append_line(
            "INFO",
            f"epoch {epoch.epoch}/{epoch.n_epochs}: train {epoch.train_loss:.4g}, val {val}, lr {epoch.learning_rate:.2g}",
        )
        self.epoch_ended.emit(epoch)

    @Slot(object)
    def _on_preview(self, preview: Preview) -> None:
        """Keep only the newest preview; draw it at most every PREVIEW_INTERVAL_MS."""
        self._pending_preview = preview
        if not self._preview_timer.isActive():
            self._preview_timer.start()

    @Slot()
    def _draw_preview(self) -> None:
        preview, self._pending_preview = self._pending_preview, None
        if preview is None:
            return
        self.training_views.images.set_images(preview.amplitude, preview.phase, f"epoch {preview.epoch}")
        self.training_views.preview_epoch = preview.epoch
        self.preview_shown.emit(int(preview.epoch))

    def _end_job(self, text: str) -> None:
        self.job = None
        if self._pending_preview is not None:
            self._preview_timer.stop()
            self._draw_preview()
        self.run_panel.finish(text, ok=text.startswith("Finished"))
        self._update_actions()

    @Slot(str, object)
    def _on_finished(self, kind: str, result: Any) -> None:
        if kind == "train":
            history = list(getattr(result, "history", []) or [])
            if history and not self.training_views.loss.train_points:
                self.training_views.loss.set_history(history)
            self.set_model_dir(Path(result.output_dir))
            self._end_job(f"Finished training: {len(history)} epoch(s), model in {result.output_dir}")
            self.training_finished.emit(result)
        else:
            self.results_view.show_result(result.amplitude, result.phase, result.metrics, Path(result.output_dir))
            self.tabs.setCurrentWidget(self.results_view)
            self._end_job(f"Finished inference: {result.output_dir}")
            self.inference_finished.emit(result)

    @Slot(str, object)
    def _on_cancelled(self, kind: str, result: Any) -> None:
        if kind == "train" and result is not None and getattr(result, "archive_path", None):
            if Path(result.archive_path).is_file():
                self.set_model_dir(Path(result.output_dir))
        self._end_job(f"Cancelled {kind}: the last good model was kept" if kind == "train" else "Cancelled inference")
        self.log_pane.append_line("WARNING", f"{kind} cancelled")
        self.run_cancelled.emit(kind)

    @Slot(str, str, str)
    def _on_failed(self, what: str, message: str, details: str) -> None:
        self._end_job(f"Failed: {message}")
        self.log_pane.append_line("ERROR", f"{what}: {message}")
        self._show_error(what, message, details)
        self.run_failed.emit(message)

    def _show_error(self, what: str, message: str, details: str = "") -> None:
        self.last_error_dialog = dialogs.error_dialog(self, what, message, details)

    # ================================================================ CUDA
    @Slot(bool, str)
    def _on_cuda(self, available: bool, detail: str) -> None:
        self.cuda_label.setText(f"CUDA: {'available' if available else 'not available'}")
        self.cuda_label.setToolTip(detail)
        note = "CUDA available" if available else "no CUDA here: runs on CPU"
        for form in (self.train_form, self.infer_form):
            if isinstance(form, OverridesForm):
                form.set_note("accelerator", note)
        self.cuda_checked.emit(available)

    # ================================================================ session / shutdown
    def _save_session(self) -> None:
        s = self.session
        if self.output_dir is not None:
            s.output_dir = self.output_dir
        if self.data_panel.summary is not None:
            s.data_file = Path(self.data_panel.summary.path)
        if isinstance(self.train_form, OverridesForm):
            s.set_overrides("training", self.train_form.texts())
        if isinstance(self.infer_form, OverridesForm):
            s.set_overrides("inference", self.infer_form.texts())
        s.set_geometry(bytes(self.saveGeometry()))
        s.sync()

    def shutdown(self, timeout_ms: int = 60_000) -> None:
        """Stop a running job (cancel), then both threads; safe to call twice."""
        if self.job is not None:
            self.job.cancel.cancel()
        for thread in (self.engine_thread, self.io_thread):
            if thread.isRunning():
                thread.quit()
                thread.wait(timeout_ms)
        self.log_pane.detach()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        self._save_session()
        self.shutdown()
        super().closeEvent(event)

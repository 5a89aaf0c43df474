"""The main window: wires the panels, the two worker threads and the session settings.

Layout: left column = what to run (scans, output folder, model, generated parameter forms, the
run buttons and progress); right = what happened (tabs: Scan previews, Training live views,
Reconstruction, Configuration) above the log. Everything slow happens in worker threads; this
class only reacts to queued signals in its ``@Slot`` methods.
"""
from __future__ import annotations

import dataclasses
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
from .widgets.data_panel import DataPanel, ScanEntry
from .widgets.init_model_chooser import InitModelChooser
from .widgets.live_views import TrainingViews
from .widgets.log_pane import LogPane
from .widgets.output_panel import OutputPanel
from .widgets.overrides_form import OverridesForm
from .widgets.pretrain_dialog import PRETRAIN_SKIP, PretrainDialog, pretraining_specs
from .widgets.results_view import ResultsView
from .widgets.run_panel import RunPanel
from .widgets.scan_views import ScanViews
from .worker import JOB_TITLES, EngineWorker, IoWorker, Job

# Fields the factory needs but the schema leaves empty; a value that suits the demo scan.
TRAINING_GUI_DEFAULTS: dict[str, Any] = {"n_groups": 512}
PREVIEW_INTERVAL_MS = 150  # at most ~7 image redraws per second, whatever the engine sends


def _same_file(a: str | Path, b: str | Path) -> bool:
    return Path(a).resolve() == Path(b).resolve()


def default_output_dir() -> Path:
    return Path.home() / "PtychoStudio" / "runs" / time.strftime("run-%Y%m%d-%H%M%S")


class MainWindow(QMainWindow):
    """Ptycho Studio's only window. GUI-thread signals below exist so tests can wait on them."""

    scan_loaded = Signal(object)  # ScanSummary of the previewed scan
    scan_failed = Signal(str)  # any scan of the set was refused (message)
    scans_checked = Signal()  # every scan of the set has been checked
    epoch_ended = Signal(object)  # EpochEnd
    preview_shown = Signal(int)  # epoch of the preview drawn
    payload_ready = Signal(str, object)
    training_finished = Signal(object)  # TrainResult
    pretraining_finished = Signal(object)  # TrainResult of a pretraining run
    inference_finished = Signal(object)  # InferenceResult
    run_cancelled = Signal(str)  # kind
    run_failed = Signal(str)  # message
    run_opened = Signal(object)  # RunRecord
    cuda_checked = Signal(bool)

    # requests to the workers (queued: the receivers live in other threads)
    _job_requested = Signal(object)
    _scan_requested = Signal(int, str, bool)
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
        self._scan_request = 0  # id of the latest preview request
        self._next_request = 0
        self._requests: dict[int, tuple[str, bool]] = {}  # in flight: id -> (path, with preview)
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
        self.data_panel.files_chosen.connect(self.set_data_files)
        self.data_panel.files_added.connect(self.add_data_files)
        self.data_panel.remove_requested.connect(self.remove_data_file)
        self.data_panel.validation_chosen.connect(self._validation_chosen)
        self.data_panel.preview_requested.connect(self.preview_scan)

        self.output_panel = OutputPanel()
        self.output_panel.changed.connect(self._update_actions)
        self.output_panel.model_folder_chosen.connect(self._model_folder_chosen)
        self.output_edit = self.output_panel.output_edit

        self.params_tabs = QTabWidget()
        self.train_form = self._make_form("training", api.training_fields, TRAINING_GUI_DEFAULTS)
        self.infer_form = self._make_form("inference", api.inference_fields, {})
        self.init_model_chooser: InitModelChooser | None = None
        if isinstance(self.train_form, OverridesForm) and "init_model" in self.train_form.editors:
            self.init_model_chooser = InitModelChooser(self.train_form.editor("init_model"))
            self.train_form.insert_in_row("init_model", self.init_model_chooser)
            self.train_form.cells["init_model"].addWidget(self.init_model_chooser.status)
            self.train_form.labels["init_model"].setText("init_model (start from)")
            self.init_model_chooser.changed.connect(self._update_actions)
        self.params_tabs.addTab(self._form_or_error(self.train_form), "Training parameters")
        self.params_tabs.addTab(self._form_or_error(self.infer_form), "Inference parameters")
        params_box = QGroupBox("Parameters (from the engine's schema; hover a field for help)")
        QVBoxLayout(params_box).addWidget(self.params_tabs)

        self.run_panel = RunPanel()
        self.run_panel.train_button.clicked.connect(self.start_training)
        self.run_panel.infer_button.clicked.connect(self.start_inference)
        self.run_panel.cancel_button.clicked.connect(self.cancel_run)
        self.run_panel.pretrain_button.clicked.connect(self.open_pretrain_dialog)
        self.pretrain_dialog = self._make_pretrain_dialog()
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

    def _make_pretrain_dialog(self) -> PretrainDialog | str:
        """The pretraining knobs from the engine's schema; if it cannot give them, say why instead."""
        try:
            synthetic = api.pretraining_fields()
            specs = pretraining_specs(synthetic, api.training_fields())
        except Exception as exc:  # noqa: BLE001 - keep the window usable
            return f"Pretraining is unavailable: {type(exc).__name__}: {exc}"
        dialog = PretrainDialog(specs, {f.name for f in synthetic}, self)
        dialog.reason_fn = self.pretrain_block_reason
        dialog.start_requested.connect(self.start_pretraining)
        return dialog

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
        if isinstance(self.pretrain_dialog, PretrainDialog):
            self.pretrain_dialog.form.set_texts(s.overrides("pretraining"))
        model = s.model_dir
        if model is not None and (model / "wts.h5.zip").is_file():
            self.set_model_dir(model)
        geometry = s.geometry()
        if geometry:
            self.restoreGeometry(geometry)
        out = output_dir or s.output_dir or default_output_dir()
        self.output_edit.setText(str(out))
        if data_file is None:  # the last session's scans, when they are all still there
            files = s.data_files
            if files and all(f.exists() for f in files):
                validation = s.validation_file
                if validation is not None and validation.exists() and validation not in files:
                    self.set_validation_file(validation)
                self.set_data_files([str(f) for f in files])
                return
        data = data_file or s.data_file
        if data is None or not Path(data).exists():
            data = data_file or api.demo_dataset_path()
        self.set_data_file(str(data))

    # ================================================================ state
    @property
    def scan_busy(self) -> bool:
        """True while any scan of the set is being checked in the IO thread."""
        return bool(self._requests)

    @property
    def output_dir(self) -> Path | None:
        return self.output_panel.output_dir

    @property
    def data_files(self) -> list[Path]:
        """The training scans, in order (the first sets N and the probe shape)."""
        return [Path(p) for p in self.data_panel.train_paths]

    @property
    def validation_file(self) -> Path | None:
        path = self.data_panel.validation_path
        return Path(path) if path else None

    @property
    def current_scan(self) -> Path | None:
        """The previewed scan: the one Infer reconstructs and whose probe pretraining uses."""
        return Path(self.data_panel.previewed) if self.data_panel.previewed else None

    def scan_set_reason(self) -> str | None:
        """Why the training scans (and the validation scan) cannot be trained on, or None."""
        panel = self.data_panel
        if not panel.train_entries:
            return "Choose a scan file (NPZ)."
        for e in panel.train_entries:
            if e.error:
                return f"The scan file is not usable: {e.error}"
        if panel.validation_entry is not None and panel.validation_entry.error:
            return f"The validation scan is not usable: {panel.validation_entry.error}"
        for e in panel.entries():
            if e.problem:
                return f"These scans cannot be trained together: {e.problem}"
        if any(e.summary is None for e in panel.entries()):
            return "Checking the scan files…"
        return None

    def train_block_reason(self) -> str | None:
        """Why Train is disabled right now (None = it may run)."""
        if self.job is not None:
            return "A run is in progress."
        if self.scan_busy:
            return "Checking the scan files…" if len(self.data_panel.entries()) > 1 else "Checking the scan file…"
        reason = self.scan_set_reason()
        if reason:
            return reason
        reason = self._train_form_reason()
        if reason:
            return reason
        if self.init_model_chooser is not None:
            problem = self.init_model_chooser.problem()
            if problem:
                return f"Fix the starting model (init_model): {problem}"
        if self.output_dir is None:
            return "Choose an output folder."
        return None

    def _train_form_reason(self) -> str | None:
        if not isinstance(self.train_form, OverridesForm):
            return self.train_form
        if not self.train_form.is_valid():
            return f"Fix the training parameters: {self.train_form.first_error()}"
        return None

    def _current_scan_reason(self, purpose: str) -> str | None:
        if self.job is not None:
            return "A run is in progress."
        if self.scan_busy:
            return "Checking the scan file…"
        if self.data_panel.error:
            return f"The scan file is not usable: {self.data_panel.error}"
        if self.data_panel.summary is None:
            return f"Choose a scan file (NPZ) {purpose}."
        return None

    def infer_block_reason(self) -> str | None:
        reason = self._current_scan_reason("to reconstruct")
        if reason:
            return reason
        if self.model_dir is None:
            return "No model yet: train one, or use Load model…"
        if not isinstance(self.infer_form, OverridesForm):
            return self.infer_form
        if not self.infer_form.is_valid():
            return f"Fix the inference parameters: {self.infer_form.first_error()}"
        if self.output_dir is None:
            return "Choose an output folder."
        return None

    def pretrain_block_reason(self) -> str | None:
        """Why pretraining cannot start (None = it may): it needs the previewed scan's probe and
        valid Training parameters (the model it pretrains is the one training will use)."""
        if not isinstance(self.pretrain_dialog, PretrainDialog):
            return self.pretrain_dialog
        reason = self._current_scan_reason("whose probe to use")
        if reason:
            return reason
        reason = self._train_form_reason()
        if reason:
            return reason
        if not self.pretrain_dialog.form.is_valid():
            return f"Fix the pretraining settings: {self.pretrain_dialog.form.first_error()}"
        if self.pretrain_dialog.output_dir is None:
            return "Choose a folder for the pretraining run."
        return None

    @Slot()
    def _update_actions(self) -> None:
        train_reason = self.train_block_reason()
        infer_reason = self.infer_block_reason()
        running = self.job is not None
        self.run_panel.set_allowed(train_reason, infer_reason, running)
        if self.scan_busy:
            self.reason_label.setText("")  # transient: no red text while the files are checked
        self.run_actions["train"].setEnabled(train_reason is None)
        self.run_actions["infer"].setEnabled(infer_reason is None)
        self.run_actions["pretrain"].setEnabled(not running and isinstance(self.pretrain_dialog, PretrainDialog))
        self.run_actions["cancel"].setEnabled(running)
        if isinstance(self.pretrain_dialog, PretrainDialog) and self.pretrain_dialog.isVisible():
            self.pretrain_dialog.refresh()
        if not running:
            self.status_message.setText(train_reason or "Ready to train.")

    # ================================================================ scans
    def _request_scan(self, path: str, with_preview: bool) -> None:
        """Validate ``path`` in the IO thread (with its preview arrays for the previewed scan)."""
        self._next_request += 1
        request = self._next_request
        self._requests[request] = (path, with_preview)
        if with_preview:
            self._scan_request = request
            self.scan_views.set_preview(None)
        self.data_panel.show_loading(path)
        self._scan_requested.emit(request, path, with_preview)

    def _check_entries(self, entries: list[ScanEntry]) -> None:
        previewed = self.data_panel.previewed
        for e in entries:
            self._request_scan(e.path, with_preview=e.path == previewed)
        self._refresh_scan_set()

    @Slot(str)
    def set_data_file(self, path: str) -> None:
        """Train on ``path`` alone (replaces the training scans); it is checked in the IO thread."""
        self.set_data_files([path])

    @Slot(list)
    def set_data_files(self, paths: list[str]) -> None:
        """Train on these scans (replaces the list); the first is previewed. A scan that was the
        validation scan becomes a training scan (validation goes back to a split)."""
        validation = self.data_panel.validation_path
        if validation is not None and any(_same_file(p, validation) for p in paths):
            self.data_panel.set_validation_path(None)
            self.log_pane.append_line("INFO", f"{Path(validation).name} is now a training scan; validation uses a "
                                      "split of the training groups again")
        self._check_entries(self.data_panel.set_train_paths([str(p) for p in paths]))

    @Slot(list)
    def add_data_files(self, paths: list[str]) -> None:
        """Add scans to train on (already listed ones are skipped); each is checked."""
        new = self.data_panel.add_train_paths([str(p) for p in paths])
        skipped = len(paths) - len(new)
        if skipped:
            self.log_pane.append_line("INFO", f"{skipped} scan(s) already listed; not added twice")
        if new:
            self.log_pane.append_line("INFO", "Training scans: " + ", ".join(Path(p).name for p in
                                                                              self.data_panel.train_paths))
        self._check_entries(new)

    @Slot(str)
    def remove_data_file(self, path: str) -> None:
        was_previewed = path == self.data_panel.previewed
        self.data_panel.remove_train_path(path)
        if was_previewed and self.data_panel.previewed:
            self._request_scan(self.data_panel.previewed, with_preview=True)
        self._refresh_scan_set()

    @Slot(str)
    def _validation_chosen(self, path: str) -> None:
        self.set_validation_file(path or None)

    def set_validation_file(self, path: str | Path | None) -> None:
        """Validate on this scan instead of a split of the training groups (None = the split)."""
        if path and any(_same_file(path, p) for p in self.data_panel.train_paths):
            self._show_error("Not used for validation", f"{path} is one of the training scans: validating on "
                             "it says nothing about new data. Choose another scan, or remove it from the training "
                             "scans first.")
            return
        was_previewed = self.data_panel.previewed is not None and self.data_panel.previewed == self.data_panel.validation_path
        entry = self.data_panel.set_validation_path(str(path) if path else None)
        if entry is not None:
            self._request_scan(entry.path, with_preview=False)
        elif was_previewed and self.data_panel.previewed:
            self._request_scan(self.data_panel.previewed, with_preview=True)
        self._refresh_scan_set()

    @Slot(str)
    def preview_scan(self, path: str) -> None:
        """Show ``path`` (one of the listed scans) in the summary and the Scan tab."""
        if self.data_panel.entry(path) is None:
            return
        self.data_panel.set_previewed(path)
        self._request_scan(path, with_preview=True)
        self._refresh_scan_set()

    def _refresh_scan_set(self) -> None:
        """Scans that cannot be trained with the first one, in the engine's words; then the buttons."""
        panel = self.data_panel
        problems: dict[str, str] = {}
        first = panel.train_entries[0] if panel.train_entries else None
        if first is not None and first.summary is not None:
            from ptycho_engine.data.scan_set import ScanGeometry, check_compatible

            ref = ScanGeometry(Path(first.path), int(first.summary.N), tuple(first.summary.probe_shape))
            for e in panel.entries()[1:]:
                if e.summary is None:
                    continue
                try:
                    check_compatible(ref, ScanGeometry(Path(e.path), int(e.summary.N), tuple(e.summary.probe_shape)))
                except ValueError as exc:
                    problems[e.path] = str(exc)
        panel.set_problems(problems)
        self._update_actions()

    @Slot(int, object, object)
    def _on_scan_loaded(self, request: int, summary: Any, preview: Any) -> None:
        path, with_preview = self._requests.pop(request, ("", False))
        entry = self.data_panel.entry(path)
        if entry is not None and not self._in_flight(path):
            self.data_panel.show_summary(summary, path)
        current = with_preview and request == self._scan_request and path == self.data_panel.previewed
        if current:
            self.scan_views.set_preview(preview)
            self.session.data_file = Path(summary.path)
        if isinstance(self.train_form, OverridesForm) and entry is not None and entry.role == "train":
            # at gridsize 1 a group is one pattern; with several scans n_groups is per scan
            counts = [e.summary.n_patterns for e in self.data_panel.train_entries if e.summary is not None]
            if counts:
                self.train_form.adapt_default("n_groups", min(TRAINING_GUI_DEFAULTS["n_groups"], max(counts)))
        self._refresh_scan_set()
        if current:
            self.scan_loaded.emit(summary)
        self._maybe_all_checked()

    @Slot(int, str, str)
    def _on_scan_failed(self, request: int, message: str, path: str) -> None:
        path, with_preview = self._requests.pop(request, (path, False))
        entry = self.data_panel.entry(path)
        if entry is not None and not self._in_flight(path):
            self.data_panel.show_error(message, path)
        if with_preview and request == self._scan_request:
            self.scan_views.set_preview(None)
        self._refresh_scan_set()
        if entry is not None:
            self.log_pane.append_line("ERROR", f"Scan rejected: {message}")
            self.scan_failed.emit(message)
        self._maybe_all_checked()

    def _in_flight(self, path: str) -> bool:
        """Another check of ``path`` is still pending (its answer is the newer one)."""
        return any(p == path for p, _ in self._requests.values())

    def _maybe_all_checked(self) -> None:
        if not self._requests:
            self.scans_checked.emit()

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
        stem = self.current_scan.stem if self.current_scan is not None else "scan"
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

    @Slot()
    def open_pretrain_dialog(self) -> None:
        """'Pretrain on synthetic objects…': the knobs, the run folder, Start."""
        if not isinstance(self.pretrain_dialog, PretrainDialog):
            self._show_error("Pretraining is unavailable", self.pretrain_dialog)
            return
        current = str(self.current_scan) if self.current_scan is not None else None
        self.pretrain_dialog.prepare(current, self.output_dir)
        self.pretrain_dialog.open()

    @Slot()
    def start_pretraining(self) -> bool:
        """Pretrain on synthetic objects through the previewed scan's probe (asks before
        overwriting a run); the dialog closes when the run starts."""
        reason = self.pretrain_block_reason()
        if reason:
            self.status_message.setText(reason)
            return False
        assert isinstance(self.pretrain_dialog, PretrainDialog)
        out = self.pretrain_dialog.output_dir
        assert out is not None
        self.pretrain_dialog.accept()
        if dialogs.holds_run(out):
            self.pending_question = dialogs.ask_overwrite(self, out, lambda: self._launch("pretrain", out))
            return False
        self._launch("pretrain", out)
        return True

    def pretraining_settings(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(training overrides, synthetic settings) for pretraining: the Training parameters (the
        model pretrained is the one training will fine-tune), less what does not apply, plus the
        dialog's knobs."""
        assert isinstance(self.train_form, OverridesForm) and isinstance(self.pretrain_dialog, PretrainDialog)
        overrides = {k: v for k, v in self.train_form.overrides().items() if k not in PRETRAIN_SKIP}
        knobs, synthetic = self.pretrain_dialog.settings()
        overrides.update(knobs)
        return overrides, synthetic

    def _launch(self, kind: str, out: Path) -> None:
        if self.job is not None:
            return
        current = self.current_scan
        assert current is not None
        data_files: list[Path] = []
        synthetic: dict[str, Any] = {}
        if kind == "train":
            assert isinstance(self.train_form, OverridesForm)
            overrides = self.train_form.overrides()
            data_files = self.data_files
            if self.validation_file is not None:
                overrides["validation_data_file"] = str(self.validation_file)
            data_file = data_files[0]
        elif kind == "pretrain":
            overrides, synthetic = self.pretraining_settings()
            data_file = current
        else:
            assert isinstance(self.infer_form, OverridesForm)
            overrides = self.infer_form.overrides()
            data_file = current
        self.job = Job(
            kind=kind,
            data_file=data_file,
            output_dir=out,
            overrides=overrides,
            model_dir=self.model_dir if kind == "infer" else None,
            data_files=data_files,
            synthetic=synthetic,
        )
        self._save_session()
        self._n_epochs = None
        if kind in ("train", "pretrain"):
            self.training_views.loss.clear_history()
            self.tabs.setCurrentWidget(self.training_views)
        self.run_panel.start(kind)
        if len(data_files) > 1:
            self.log_pane.append_line("INFO", f"Training on {len(data_files)} scans: "
                                      + ", ".join(p.name for p in data_files))
        if kind == "pretrain":
            self.log_pane.append_line("INFO", f"Pretraining through the probe of {data_file.name}; synthetic "
                                      f"settings {synthetic}")
        self.log_pane.append_line("INFO", f"Starting {kind} → {out} with overrides {self.job.overrides}")
        self._update_actions()
        self.status_message.setText(f"{JOB_TITLES.get(kind, kind)} running…")
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
        inner = getattr(payload, "training", payload)  # a pretraining payload wraps a training one
        applied = dict(getattr(inner, "overrides_applied", None) or {})
        synthetic = getattr(payload, "synthetic", None)
        if synthetic is not None and dataclasses.is_dataclass(synthetic):
            for name, value in dataclasses.asdict(synthetic).items():
                applied[f"synthetic.{name}"] = {"value": value, "source": "pretraining"}
        what = JOB_TITLES.get(kind, kind).lower()
        self.config_table.set_applied(
            f"Resolved {what} configuration: {len(applied)} values and where each came from", applied
        )
        cfg = getattr(inner, "tf_training_config", None)
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
        elif kind == "pretrain":
            history = list(getattr(result, "history", []) or [])
            if history and not self.training_views.loss.train_points:
                self.training_views.loss.set_history(history)
            self.set_model_dir(Path(result.output_dir))
            self._end_job(f"Finished pretraining: {len(history)} epoch(s), model in {result.output_dir}")
            self.offer_starting_model(Path(result.output_dir))
            self.pretraining_finished.emit(result)
        else:
            self.results_view.show_result(result.amplitude, result.phase, result.metrics, Path(result.output_dir))
            self.tabs.setCurrentWidget(self.results_view)
            self._end_job(f"Finished inference: {result.output_dir}")
            self.inference_finished.emit(result)

    def offer_starting_model(self, folder: Path) -> None:
        """After pretraining: ask whether training should start from that model (init_model)."""
        if self.init_model_chooser is None:
            return
        self.pending_question = dialogs.ask_yes_no(
            self, "Pretraining finished", f"Pretraining finished: the model is in {folder}.",
            "Start training from this model? This sets “Start from” (init_model, Training parameters) to that "
            "folder; Train then fine-tunes it on your scans. Keep the model settings (N, gridsize, "
            "n_filters_scale, …) as they are so that it fits.",
            lambda: self.use_as_starting_model(folder), "Use it for training", "Not now")

    def use_as_starting_model(self, folder: Path) -> None:
        if self.init_model_chooser is None:
            return
        self.init_model_chooser.set_folder(folder)
        self.params_tabs.setCurrentIndex(0)
        self.log_pane.append_line("INFO", f"Training will start from the model in {folder} (init_model)")
        self._update_actions()

    @Slot(str, object)
    def _on_cancelled(self, kind: str, result: Any) -> None:
        kept = False
        if kind in ("train", "pretrain") and result is not None and getattr(result, "archive_path", None):
            if Path(result.archive_path).is_file():
                self.set_model_dir(Path(result.output_dir))
                kept = True
        if kind == "train":
            text = "Cancelled training: the last good model was kept"
        elif kind == "pretrain":
            text = ("Cancelled pretraining: the last good model was kept in "
                    f"{result.output_dir} (Start from → A model folder… uses it)" if kept else "Cancelled pretraining")
        else:
            text = "Cancelled inference"
        self._end_job(text)
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
        entries = self.data_panel.train_entries
        if entries and all(e.summary is not None for e in entries):  # never remember a refused file
            s.data_file = Path(entries[0].path)
            s.data_files = [Path(e.path) for e in entries]
        validation = self.data_panel.validation_entry
        s.validation_file = Path(validation.path) if validation is not None and validation.summary is not None else None
        if isinstance(self.train_form, OverridesForm):
            s.set_overrides("training", self.train_form.texts())
        if isinstance(self.pretrain_dialog, PretrainDialog):
            s.set_overrides("pretraining", self.pretrain_dialog.form.texts())
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

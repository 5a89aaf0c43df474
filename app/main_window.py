"""The main window: wires the panels, the two worker threads and the session settings.

Layout: left column = what to run (scans, output folder, model, generated parameter forms, the
run buttons and progress); right = what happened (tabs: Scan previews, Training live views,
Reconstruction, Configuration) above the log. Everything slow happens in worker threads; this
class only reacts to queued signals in its ``@Slot`` methods.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, QThread, QTimer, Signal, Slot
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QGroupBox,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ptycho_engine import api
from ptycho_engine.events import EpochEnd, Preview, StepProgress

from . import dialogs, run_folders, run_rules
from .form_tiers import ADVANCED, BASIC_INFERENCE, BASIC_TRAINING
from .menus import build_menus
from .plotting import configure_pyqtgraph
from .run_controller import RunController
from .settings import SessionStore, restore_session, save_session
from .widgets.backend_chooser import BackendChooser
from .widgets.config_table import ConfigTable
from .widgets.data_panel import DataPanel
from .widgets.init_model_chooser import InitModelChooser
from .widgets.live_views import TrainingViews
from .widgets.log_pane import LogPane
from .widgets.output_panel import OutputPanel
from .widgets.overrides_form import OverridesForm
from .widgets.pretrain_dialog import PRETRAIN_SKIP, PretrainDialog, pretraining_specs
from .widgets.results_view import ResultsView, result_extras
from .widgets.run_panel import RunPanel
from .widgets.scan_views import ScanViews
from .window_scans import TRAINING_GUI_DEFAULTS, ScanSetMixin
from .worker import JOB_TITLES, IoWorker, Job

PREVIEW_INTERVAL_MS = 150  # at most ~7 image redraws per second, whatever the engine sends
PARAMS_MIN_HEIGHT = 300  # px: about six form rows stay visible; below that the left column scrolls


def default_output_dir() -> Path:
    """The default runs folder: each Train makes a new run folder in it."""
    return Path.home() / "PtychoStudio" / "runs"


class MainWindow(ScanSetMixin, QMainWindow):
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

    # requests to the IO worker (queued: the receiver lives in another thread)
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
        self._close_when_idle = False  # the user chose "stop and quit" while a run was going
        self._shut_down = False
        self._cleared_for_job = False  # the current run has cleared the previous loss curve
        self.last_error_dialog: QMessageBox | None = None
        self.pending_question: QMessageBox | None = None
        self.about_box: QMessageBox | None = None  # Help → About (help_menu)
        self.readme_dialog: QWidget | None = None  # Help → README
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
        self.train_form = self._make_form("training", api.training_fields, TRAINING_GUI_DEFAULTS, BASIC_TRAINING)
        if isinstance(self.train_form, OverridesForm):
            self.train_form.changed.connect(self._update_n_groups_note)
        self.infer_form = self._make_form("inference", api.inference_fields, {}, BASIC_INFERENCE)
        self.init_model_chooser: InitModelChooser | None = None
        if isinstance(self.train_form, OverridesForm) and "init_model" in self.train_form.editors:
            self.init_model_chooser = InitModelChooser(self.train_form.editor("init_model"))
            self.train_form.insert_in_row("init_model", self.init_model_chooser)
            self.train_form.cells["init_model"].addWidget(self.init_model_chooser.status)
            self.train_form.labels["init_model"].setText("init_model (start from)")
            self.init_model_chooser.changed.connect(self._update_actions)
        self.backends = self._make_backend_choices()
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
        params_box.setMinimumHeight(PARAMS_MIN_HEIGHT)
        left_layout.addWidget(params_box, 1)
        left.setMinimumWidth(400)
        left_scroll = QScrollArea()  # on a short screen the inputs scroll rather than squash the form;
        left_scroll.setWidgetResizable(True)  # the Run panel stays in view below them
        left_scroll.setFrameShape(QFrame.Shape.NoFrame)
        left_scroll.setWidget(left)
        left_column = QWidget()
        column_layout = QVBoxLayout(left_column)
        column_layout.setContentsMargins(0, 0, 0, 0)
        column_layout.addWidget(left_scroll, 1)
        column_layout.addWidget(self.run_panel)
        left_column.setMinimumWidth(left.minimumWidth() + 16)

        self.scan_views = ScanViews()
        self.training_views = TrainingViews()
        self.results_view = ResultsView()
        self.results_view.open_requested.connect(self.open_run)
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
        splitter.addWidget(left_column)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([480, 1020])
        self.setCentralWidget(splitter)

        self.status_message = QLabel("")
        self.cuda_label = QLabel("CUDA: not checked yet")
        self.statusBar().addWidget(self.status_message, 1)
        self.statusBar().addPermanentWidget(self.cuda_label)
        self.results_view.status.connect(self.status_message.setText)

        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(PREVIEW_INTERVAL_MS)
        self._preview_timer.timeout.connect(self._draw_preview)

    def _make_form(self, kind: str, fields_fn, gui_defaults: dict[str, Any],
                   basic: tuple[str, ...]) -> OverridesForm | str:
        """Build a form from the schema (``basic`` fields on top, internals folded away); if the
        engine cannot give the schema, say why instead."""
        try:
            fields = fields_fn()
        except Exception as exc:  # noqa: BLE001 - keep the window usable
            return f"The {kind} parameters are unavailable: {type(exc).__name__}: {exc}"
        form = OverridesForm(fields, gui_defaults, basic=basic, advanced=ADVANCED)
        form.changed.connect(self._update_actions)
        return form

    def _make_backend_choices(self) -> dict[str, BackendChooser]:
        """'Backend' above the training and inference forms (kind -> chooser); pretraining
        always runs on PyTorch."""
        availability = api.tensorflow_available()  # imports nothing
        out: dict[str, BackendChooser] = {}
        for kind, form, what in (("train", self.train_form, "trains"), ("infer", self.infer_form, "reconstructs")):
            if isinstance(form, OverridesForm):
                out[kind] = BackendChooser(availability, what)
                form.add_header(out[kind])
        return out

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
        self.runner = RunController(self)
        r = self.runner
        r.log.connect(self.log_pane.append_line)
        r.step.connect(self._on_step)
        r.epoch.connect(self._on_epoch)
        r.preview.connect(self._on_preview)
        r.payload_ready.connect(self._on_payload)
        r.finished.connect(self._on_finished)
        r.cancelled.connect(self._on_cancelled)
        r.failed.connect(self._on_failed)

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
        restore_session(self, data_file, output_dir, default_output_dir())

    # ================================================================ state
    @property
    def job(self) -> Job | None:
        """The run in progress (None when idle)."""
        return self.runner.job

    @property
    def engine_thread(self) -> QThread:
        return self.runner.thread

    @property
    def output_dir(self) -> Path | None:
        return self.output_panel.output_dir

    def readiness(self) -> run_rules.Readiness:
        """A snapshot of what the Train/Infer rules (``run_rules``) need to know."""
        infer_form = None
        if not isinstance(self.infer_form, OverridesForm):
            infer_form = self.infer_form
        elif not self.infer_form.is_valid():
            infer_form = f"Fix the inference parameters: {self.infer_form.first_error()}"
        return run_rules.Readiness(
            running=self.job is not None,
            scans_busy=self.scan_busy,
            n_scans=len(self.data_panel.entries()),
            scan_set_reason=self.scan_set_reason(),
            scan_error=self.data_panel.error,
            scan_loaded=self.data_panel.summary is not None,
            train_form_reason=self._train_form_reason(),
            infer_form_reason=infer_form,
            init_model_problem=self.init_model_chooser.problem() if self.init_model_chooser is not None else None,
            output_dir=self.output_dir,
            model_dir=self.model_dir,
        )

    def train_block_reason(self) -> str | None:
        """Why Train is disabled right now (None = it may run)."""
        return run_rules.train_reason(self.readiness())

    def _train_form_reason(self) -> str | None:
        if not isinstance(self.train_form, OverridesForm):
            return self.train_form
        if not self.train_form.is_valid():
            return f"Fix the training parameters: {self.train_form.first_error()}"
        return None

    def infer_block_reason(self) -> str | None:
        return run_rules.infer_reason(self.readiness())

    def pretrain_block_reason(self) -> str | None:
        """Why pretraining cannot start (None = it may)."""
        if not isinstance(self.pretrain_dialog, PretrainDialog):
            return self.pretrain_dialog
        form = self.pretrain_dialog.form
        dialog_reason = None if form.is_valid() else f"Fix the pretraining settings: {form.first_error()}"
        return run_rules.pretrain_reason(self.readiness(), dialog_reason, self.pretrain_dialog.output_dir)

    @Slot()
    def _update_actions(self) -> None:
        train_reason = self.train_block_reason()
        infer_reason = self.infer_block_reason()
        running = self.job is not None
        shown = run_rules.brief(train_reason)  # a scan's problem is shown once, under Scan data
        self.run_panel.set_allowed(train_reason, infer_reason, running, shown)
        self.output_panel.update_hint()
        if self.scan_busy:
            self.reason_label.setText("")  # transient: no red text while the files are checked
        self.run_actions["train"].setEnabled(train_reason is None)
        self.run_actions["infer"].setEnabled(infer_reason is None)
        self.run_actions["pretrain"].setEnabled(not running and isinstance(self.pretrain_dialog, PretrainDialog))
        self.run_actions["cancel"].setEnabled(running)
        if isinstance(self.pretrain_dialog, PretrainDialog) and self.pretrain_dialog.isVisible():
            self.pretrain_dialog.refresh()
        if not running:
            self.status_message.setText(shown or "Ready to train.")

    # ================================================================ scans (IO thread answers)
    # Defined here, not in the mixin, so they are registered slots: the IO worker's signals then
    # arrive queued on the GUI thread (a mixin method would run in the worker thread).
    @Slot(int, object, object)
    def _on_scan_loaded(self, request: int, summary: Any, preview: Any) -> None:
        self._scan_loaded(request, summary, preview)

    @Slot(int, str, str)
    def _on_scan_failed(self, request: int, message: str, path: str) -> None:
        self._scan_failed(request, message, path)

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
        """Use this model for Infer; the panel says when its run was cancelled, and the
        Reconstruction tab lists what was made with it."""
        self.model_dir = folder
        self.output_panel.show_model(folder, run_folders.status_note(folder) if folder is not None else "")
        if folder is not None:
            self.session.model_dir = folder
        self.results_view.set_reconstructions(folder, run_folders.reconstructions(folder) if folder else [])
        self._update_actions()

    @Slot()
    def browse_run(self) -> None:
        start = str(self.output_dir if self.output_dir else Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Open run folder", start)
        if folder:
            self.open_run(Path(folder))

    @Slot(str)
    def open_run(self, folder: Path | str) -> None:
        """Show an earlier run (history, images, configuration); read in the IO thread."""
        self._run_requested.emit(str(folder))

    @Slot(object)
    def _on_run_loaded(self, record: Any) -> None:
        if record.is_empty:
            self._show_error("Nothing to show", f"{record.path} does not look like a Ptycho Studio run.")
            return
        note = run_folders.status_note(record.path)
        if record.history:
            self.training_views.loss.set_history(record.history)
        if record.preview:
            self.training_views.images.set_images(
                record.preview.get("amplitude"), record.preview.get("phase"),
                "last saved preview" + (" (run cancelled)" if note.startswith("cancelled") else ""),
            )
        if record.reconstruction:
            rec = record.reconstruction
            self.results_view.set_reference(None)  # which scan it reconstructed is not known here
            self.results_view.show_result(rec.get("amplitude"), rec.get("phase"), record.metrics, record.path,
                                          obj=rec.get("object"), extras=dict(rec))
        if record.config:
            applied = record.config.get("overrides_applied", record.config)
            self.config_table.set_applied(f"Configuration of {record.path}", applied)
        if record.archive_path is not None:
            self.set_model_dir(record.path)
        else:
            owner = run_folders.model_of_reconstruction(record.path)
            if owner is not None:  # a reconstruction: list its siblings, made with the same model
                self.results_view.set_reconstructions(owner, run_folders.reconstructions(owner))
        self.tabs.setCurrentWidget(self.results_view if record.reconstruction and not record.history else self.training_views)
        self.log_pane.append_line("WARNING" if note else "INFO",
                                  f"Opened run {record.path}" + (f" — {note}" if note else ""))
        self.run_opened.emit(record)

    @Slot(str, str)
    def _on_run_failed(self, message: str, details: str) -> None:
        self._show_error("Could not open the run", message, details)

    # ================================================================ runs
    @Slot()
    def start_training(self) -> bool:
        """Train into a new run folder under the runs folder; a folder that *is* a run is
        replaced only after a question that names what goes."""
        reason = self.train_block_reason()
        if reason:
            self.status_message.setText(reason)
            return False
        chosen = self.output_dir
        assert chosen is not None and self.data_files
        out, replaces = run_folders.train_target(chosen, self.data_files[0].stem)
        if replaces:
            self.pending_question = dialogs.ask_overwrite(self, out, run_folders.overwrite_text(out),
                                                          lambda: self._launch("train", out))
            return False
        self._launch("train", out)
        return True

    def inference_output_dir(self) -> Path:
        """A new folder with the model: ``<model>/reconstructions/<scan>-<time>`` (or under the
        runs folder when the model's folder is read-only)."""
        assert self.model_dir is not None
        stem = self.current_scan.stem if self.current_scan is not None else "scan"
        return run_folders.inference_target(self.model_dir, stem, self.output_dir, read_only=(api.resources_dir(),))

    @Slot()
    def start_inference(self) -> bool:
        """Reconstruct the previewed scan with the model; the result goes into a new folder."""
        reason = self.infer_block_reason()
        if reason:
            self.status_message.setText(reason)
            return False
        preview = self.scan_views.preview  # the truth of the scan reconstructed, for the results view
        self.results_view.set_reference(preview.object_guess if preview is not None else None)
        self._launch("infer", self.inference_output_dir())
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
        if run_folders.holds_run(out):
            self.pending_question = dialogs.ask_overwrite(self, out, run_folders.overwrite_text(out),
                                                          lambda: self._launch("pretrain", out))
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
        if kind in self.backends:  # pretraining has no backend choice: it runs on PyTorch
            overrides["backend"] = self.backends[kind].value()
        job = Job(
            kind=kind,
            data_file=data_file,
            output_dir=out,
            overrides=overrides,
            model_dir=self.model_dir if kind == "infer" else None,
            data_files=data_files,
            synthetic=synthetic,
        )
        if not self.runner.start(job):
            return
        self._save_session()
        self._n_epochs = None
        self._cleared_for_job = False
        scans = data_file.name + (f" + {len(data_files) - 1} more" if len(data_files) > 1 else "")
        if kind in ("train", "pretrain"):
            # the previous curve stays until this run's first step: a failed start keeps it
            self.training_views.images.mark_stale("previous run")
            self.tabs.setCurrentWidget(self.training_views)
        else:
            self.results_view.images.mark_stale("previous reconstruction")
        self.run_panel.start(kind, f"{scans} → {out.name}")
        if len(data_files) > 1:
            self.log_pane.append_line("INFO", f"Training on {len(data_files)} scans: "
                                      + ", ".join(p.name for p in data_files))
        if kind == "pretrain":
            self.log_pane.append_line("INFO", f"Pretraining through the probe of {data_file.name}; synthetic "
                                      f"settings {synthetic}")
        self.log_pane.append_line("INFO", f"Starting {kind} → {out} with overrides {job.overrides}")
        self._update_actions()
        self.status_message.setText(f"{JOB_TITLES.get(kind, kind)} running on {scans}…")

    @Slot()
    def cancel_run(self) -> None:
        """Ask the engine to stop; it finishes the current batch and keeps the last good model."""
        if not self.runner.cancel():
            return
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

    def _clear_for_new_run(self) -> None:
        """At a training run's first step: the old loss curve goes (not at Train, so a run that
        fails before it starts leaves the previous curve on screen)."""
        if not self._cleared_for_job and self.job is not None and self.job.kind in ("train", "pretrain"):
            self._cleared_for_job = True
            self.training_views.loss.clear_history()

    @Slot(object)
    def _on_step(self, step: StepProgress) -> None:
        if self.job is not None:
            self._clear_for_new_run()
            self.run_panel.show_step(self.job.kind, step, self._n_epochs)

    @Slot(object)
    def _on_epoch(self, epoch: EpochEnd) -> None:
        self._clear_for_new_run()
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
        self.training_views.images.set_images(preview.amplitude, preview.phase, f"epoch {preview.epoch}",
                                              keep_view=True)  # the user's zoom survives each epoch
        self.training_views.preview_epoch = preview.epoch
        self.preview_shown.emit(int(preview.epoch))

    def _end_job(self, text: str) -> None:
        self.runner.job = None
        if self._pending_preview is not None:
            self._preview_timer.stop()
            self._draw_preview()
        self.run_panel.finish(text, ok=text.startswith("Finished"))
        self._update_actions()
        if self._close_when_idle:  # the user chose "stop and quit"
            QTimer.singleShot(0, self.close)

    def _epochs_done(self) -> int:
        return len(self.training_views.loss.train_points)

    @Slot(str, object)
    def _on_finished(self, kind: str, result: Any) -> None:
        if kind in ("train", "pretrain"):
            history = list(getattr(result, "history", []) or [])
            if history and not self.training_views.loss.train_points:
                self.training_views.loss.set_history(history)
            out = Path(result.output_dir)
            run_folders.write_status(out, "completed", epochs_done=len(history), n_epochs=self._n_epochs)
            self.set_model_dir(out)
            what = "training" if kind == "train" else "pretraining"
            self._end_job(f"Finished {what}: {len(history)} epoch(s), model in {out}")
            if kind == "train":
                self.training_finished.emit(result)
            else:
                self.offer_starting_model(out)
                self.pretraining_finished.emit(result)
        else:
            self.results_view.show_result(result.amplitude, result.phase, result.metrics, Path(result.output_dir),
                                          obj=result.object, extras=result_extras(result))
            if self.model_dir is not None:
                self.results_view.set_reconstructions(self.model_dir, run_folders.reconstructions(self.model_dir))
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
                out = Path(result.output_dir)
                run_folders.write_status(out, "cancelled", epochs_done=self._epochs_done(), n_epochs=self._n_epochs)
                self.set_model_dir(out)
                kept = True
        if kind == "train":
            text = "Cancelled training: the last good model was kept (marked as cancelled)" if kept else \
                "Cancelled training"
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
        job = self.job
        if job is not None and job.kind in ("train", "pretrain") and self._cleared_for_job:
            run_folders.write_status(job.output_dir, "failed", message=message)
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
        save_session(self)

    def shutdown(self, timeout_ms: int = 60_000) -> None:
        """Stop a running job (cancel), then both threads; safe to call twice."""
        self._shut_down = True
        self.runner.shutdown(timeout_ms)
        if self.io_thread.isRunning():
            self.io_thread.quit()
            self.io_thread.wait(timeout_ms)
        self.log_pane.detach()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        """Quit (Ctrl+Q, the window's ✕): while a run is going, ask first; "stop" cancels it,
        marks its folder as cancelled, and closes when the engine has stopped."""
        if self.job is not None and not self._shut_down:
            event.ignore()
            if self._close_when_idle:
                return  # already stopping
            kind = self.job.kind
            title = JOB_TITLES.get(kind, kind)
            keep = "stop and keep the current model" if kind in ("train", "pretrain") else "stop it"
            self.pending_question = dialogs.ask_yes_no(
                self, f"{title} is running", f"{title} is running — {keep}, or keep running?",
                "Stopping finishes the current batch, keeps the model of that moment, marks the run folder as "
                "cancelled and then quits." if kind != "infer" else "Stopping discards this reconstruction and quits.",
                self._stop_and_quit, "Stop and quit", "Keep running", default_yes=False)
            return
        self._save_session()
        self.shutdown()
        super().closeEvent(event)

    def _stop_and_quit(self) -> None:
        self._close_when_idle = True
        self.cancel_run()

"""Background work for the window: the engine runs here, never on the GUI thread.

Two workers live in two QThreads owned by the main window:

* :class:`EngineWorker` runs the config factory and then training, synthetic pretraining or
  inference. It turns the
  engine's plain event objects into Qt signals, so the GUI only ever sees queued signals.
* :class:`IoWorker` does the short but possibly slow jobs (validating a scan and reading its
  preview arrays, checking for CUDA, reading a run directory) so the event loop never waits on disk
  or on ``import torch``.

Rule (see environment notes section 2): these signals are emitted in the worker thread, so they
must only be connected to ``@Slot`` methods of QObjects that live in the GUI thread.
"""
from __future__ import annotations

import logging

import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from ptycho_engine import api
from ptycho_engine.events import (
    CancelledError,
    CancelToken,
    EpochEnd,
    LogLine,
    Preview,
    RunFinished,
    StepProgress,
)

from .scan_preview import ScanPreview, scan_preview


@dataclass
class Job:
    """One engine run requested by the GUI (everything the worker needs, nothing shared)."""

    kind: str  # 'train' | 'pretrain' | 'infer'
    data_file: Path  # the scan to reconstruct (infer), whose probe to use (pretrain), the first (train)
    output_dir: Path
    overrides: dict[str, Any] = field(default_factory=dict)
    model_dir: Path | None = None
    data_files: list[Path] = field(default_factory=list)  # train: every training scan, in order
    synthetic: dict[str, Any] = field(default_factory=dict)  # pretrain: the synthetic stream's settings
    cancel: CancelToken = field(default_factory=CancelToken)


JOB_TITLES = {"train": "Training", "pretrain": "Pretraining", "infer": "Inference"}


class EngineWorker(QObject):
    """Runs factory + engine for one :class:`Job` at a time and reports through signals."""

    log = Signal(str, str)  # level, message
    step = Signal(object)  # StepProgress
    epoch = Signal(object)  # EpochEnd
    preview = Signal(object)  # Preview (arrays copied)
    payload_ready = Signal(str, object)  # kind, payload (for the resolved-config view)
    finished = Signal(str, object)  # kind, TrainResult | InferenceResult
    cancelled = Signal(str, object)  # kind, result or None
    failed = Signal(str, str, str)  # what failed, message, traceback

    @Slot(object)
    def run_job(self, job: Job) -> None:
        """Entry point, invoked through a queued signal so it runs in this worker's thread."""
        stage = "configuring the run"
        try:
            if job.kind == "train":
                data = list(job.data_files) or job.data_file
                payload = api.create_training_payload(data, job.output_dir, job.overrides)
                self.payload_ready.emit(job.kind, payload)
                stage = "training"
                result = api.train(payload, on_event=self._on_event, cancel=job.cancel)
                status = getattr(result, "status", "completed")
            elif job.kind == "pretrain":
                payload = api.create_pretraining_payload(job.data_file, job.output_dir, job.overrides, job.synthetic)
                self.payload_ready.emit(job.kind, payload)
                stage = "pretraining"
                result = api.pretrain(payload, on_event=self._on_event, cancel=job.cancel)
                status = getattr(result, "status", "completed")
            elif job.kind == "infer":
                assert job.model_dir is not None, "inference needs a model directory"
                payload = api.create_inference_payload(
                    job.model_dir, job.data_file, job.output_dir, job.overrides
                )
                self.payload_ready.emit(job.kind, payload)
                stage = "inference"
                result = api.infer(payload, on_event=self._on_event, cancel=job.cancel)
                status = "cancelled" if job.cancel.cancelled else "completed"
            else:
                raise ValueError(f"unknown job kind {job.kind!r}")
        except CancelledError:
            self.cancelled.emit(job.kind, None)
            return
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the user
            what = f"{JOB_TITLES.get(job.kind, job.kind)} failed while {stage}"
            self.failed.emit(what, f"{type(exc).__name__}: {exc}", traceback.format_exc())
            return
        if status == "cancelled":
            self.cancelled.emit(job.kind, result)
        else:
            self.finished.emit(job.kind, result)

    def _on_event(self, event: object) -> None:
        """Engine callback (worker thread): adapt each typed event to a Qt signal."""
        if isinstance(event, StepProgress):
            self.step.emit(event)
        elif isinstance(event, EpochEnd):
            self.epoch.emit(event)
        elif isinstance(event, Preview):
            self.preview.emit(
                Preview(event.epoch, event.amplitude.copy(), event.phase.copy())
            )
        elif isinstance(event, LogLine):
            self.log.emit(event.level, event.message)
        elif isinstance(event, RunFinished):
            text = f"Run {event.status}: {event.output_dir}"
            self.log.emit("INFO", f"{text} {event.message}".strip())


class IoWorker(QObject):
    """Short jobs that may touch disk or import torch; results carry the request id."""

    scan_loaded = Signal(int, object, object)  # request id, ScanSummary, ScanPreview (None if not asked)
    scan_failed = Signal(int, str, str)  # request id, message, path
    cuda_checked = Signal(bool, str)  # available, detail
    run_loaded = Signal(object)  # RunRecord
    run_failed = Signal(str, str)  # message, traceback

    @Slot(int, str, bool)
    def load_scan(self, request: int, path: str, with_preview: bool = True) -> None:
        """Validate a scan by the data contract; with its preview arrays when ``with_preview``
        (the other scans of a training set only need their summary)."""
        try:
            scan = api.load_scan(path)  # read and validated once; summary and previews come from it
            summary = scan.summary()
            preview: ScanPreview | None = scan_preview(scan) if with_preview else None
        except (ValueError, OSError) as exc:
            self.scan_failed.emit(request, str(exc), path)
            return
        except Exception as exc:  # noqa: BLE001 - show anything else in place too
            self.scan_failed.emit(request, f"{type(exc).__name__}: {exc}", path)
            return
        self.scan_loaded.emit(request, summary, preview)

    @Slot()
    def check_cuda(self) -> None:
        """Check for CUDA and import the rest of the engine, so the first Train does not stall the
        window; ``cuda_checked`` therefore also means "the engine is loaded"."""
        try:
            ok = api.cuda_available()
            detail = "CUDA available" if ok else "CUDA not available (CPU only)"
        except Exception as exc:  # noqa: BLE001
            ok, detail = False, f"CUDA check failed: {exc}"
        try:
            api.warm_up()
        except Exception:  # noqa: BLE001 - a real problem shows up again, with a dialog, on Train
            logging.getLogger("ptycho_engine").debug("engine warm-up failed", exc_info=True)
        self.cuda_checked.emit(ok, detail)

    @Slot(str)
    def load_run(self, path: str) -> None:
        try:
            record = api.load_run(path)
        except Exception as exc:  # noqa: BLE001
            self.run_failed.emit(f"{type(exc).__name__}: {exc}", traceback.format_exc())
            return
        self.run_loaded.emit(record)

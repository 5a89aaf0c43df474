"""The run lifecycle: the engine thread, the one job at a time, cancel and shutdown.

Why a class of its own: the window only lays out and reacts; whether a run is going, how it is
stopped and when the thread is gone are decided here. Every signal below is emitted on the GUI
thread (the worker's signals arrive queued in this object's slots first), so tests and widgets
may wait on them safely.
"""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from .gui_gc import GuiThreadCollector
from .worker import EngineWorker, Job


class RunController(QObject):
    """Owns the engine worker thread and the current :class:`Job`."""

    log = Signal(str, str)
    step = Signal(object)
    epoch = Signal(object)
    preview = Signal(object)
    payload_ready = Signal(str, object)
    finished = Signal(str, object)  # kind, result
    cancelled = Signal(str, object)  # kind, result or None
    failed = Signal(str, str, str)  # what, message, traceback

    _job_requested = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.job: Job | None = None
        self.stopped = False  # shutdown() ran: no more jobs
        self.collector = GuiThreadCollector(self)  # no cycle collection in the engine thread during a run
        self.thread = QThread(self)
        self.thread.setObjectName("engine")
        self.worker = EngineWorker()
        self.worker.moveToThread(self.thread)
        self._job_requested.connect(self.worker.run_job)
        w = self.worker
        w.log.connect(self._on_log)
        w.step.connect(self._on_step)
        w.epoch.connect(self._on_epoch)
        w.preview.connect(self._on_preview)
        w.payload_ready.connect(self._on_payload)
        w.finished.connect(self._on_finished)
        w.cancelled.connect(self._on_cancelled)
        w.failed.connect(self._on_failed)
        self.thread.finished.connect(self.worker.deleteLater)
        self.thread.start()

    @property
    def running(self) -> bool:
        return self.job is not None

    def start(self, job: Job) -> bool:
        """Hand ``job`` to the engine thread; False when another run is going or after shutdown."""
        if self.job is not None or self.stopped:
            return False
        self.job = job
        self.collector.hold()
        self._job_requested.emit(job)
        return True

    def cancel(self) -> bool:
        """Ask the engine to stop after the current batch (it keeps the last good model)."""
        if self.job is None:
            return False
        self.job.cancel.cancel()
        return True

    def shutdown(self, timeout_ms: int = 60_000) -> None:
        """Cancel a running job and stop the thread; safe to call twice."""
        self.stopped = True
        if self.job is not None:
            self.job.cancel.cancel()
        if self.thread.isRunning():
            self.thread.quit()
            self.thread.wait(timeout_ms)
        self.collector.release()

    # ---- worker -> GUI thread ---------------------------------------------------------------
    @Slot(str, str)
    def _on_log(self, level: str, message: str) -> None:
        self.log.emit(level, message)

    @Slot(object)
    def _on_step(self, step: Any) -> None:
        self.step.emit(step)

    @Slot(object)
    def _on_epoch(self, epoch: Any) -> None:
        self.epoch.emit(epoch)

    @Slot(object)
    def _on_preview(self, preview: Any) -> None:
        self.preview.emit(preview)

    @Slot(str, object)
    def _on_payload(self, kind: str, payload: Any) -> None:
        self.payload_ready.emit(kind, payload)

    @Slot(str, object)
    def _on_finished(self, kind: str, result: Any) -> None:
        self.collector.release()
        self.finished.emit(kind, result)

    @Slot(str, object)
    def _on_cancelled(self, kind: str, result: Any) -> None:
        self.collector.release()
        self.cancelled.emit(kind, result)

    @Slot(str, str, str)
    def _on_failed(self, what: str, message: str, details: str) -> None:
        self.collector.release()
        self.failed.emit(what, message, details)

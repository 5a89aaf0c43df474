"""Python's cycle collector runs on the GUI thread only while a run's thread is busy.

Why: the collector runs in whichever thread happens to allocate when a threshold is crossed. If
that is the engine thread and the garbage holds Qt widgets (a closed window, a pyqtgraph menu),
their C++ destructors run there while the GUI thread destroys related objects: a deadlock (seen
as a hung test run, both threads inside ``~QObject``). While a run goes, automatic collection is
off and a GUI-thread timer collects instead (pyqtgraph's ``GarbageCollector`` recipe), so no
garbage is left uncollected and none is freed by the engine thread's collector.
"""
from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 500
_holders = 0  # controllers that currently keep automatic collection off
_was_enabled = True


class GuiThreadCollector(QObject):
    """``hold()`` when a run starts, ``release()`` when it ends (both idempotent)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.holding = False
        self.timer = QTimer(self)
        self.timer.setInterval(INTERVAL_MS)
        self.timer.timeout.connect(self.check)

    def hold(self) -> None:
        global _holders, _was_enabled
        if self.holding:
            return
        if _holders == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _holders += 1
        self.holding = True
        self.timer.start()

    def release(self) -> None:
        global _holders
        if not self.holding:
            return
        self.holding = False
        self.timer.stop()
        _holders -= 1
        gc.collect()  # here, on the GUI thread
        if _holders == 0 and _was_enabled:
            gc.enable()

    def check(self) -> None:
        """Collect the generations whose thresholds were passed (what automatic collection does)."""
        threshold = gc.get_threshold()
        count = gc.get_count()
        for generation in (2, 1, 0):
            if count[generation] > threshold[generation]:
                gc.collect(generation)
                return

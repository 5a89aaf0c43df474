"""The log pane: engine LogLine events and records of the ``ptycho_engine`` logger."""
from __future__ import annotations

import logging
import time

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QPlainTextEdit, QWidget

LEVEL_COLOURS = {"DEBUG": "#777777", "INFO": "#202020", "WARNING": "#b26a00", "ERROR": "#c62828", "CRITICAL": "#c62828"}


class _LogBridge(QObject):
    """Lives in the GUI thread; emitting from any thread queues delivery to the pane."""

    record = Signal(str, str)


class QtLogHandler(logging.Handler):
    """Forwards Python logging records (from any thread) to the pane through a signal."""

    def __init__(self, bridge: _LogBridge) -> None:
        super().__init__(level=logging.INFO)
        self.bridge = bridge
        self.setFormatter(logging.Formatter("%(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.bridge.record.emit(record.levelname, self.format(record))
        except RuntimeError:  # bridge already deleted at shutdown
            pass


class LogPane(QPlainTextEdit):
    """Read-only, bounded, colour-coded log."""

    MAX_LINES = 5000

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setMaximumBlockCount(self.MAX_LINES)
        font = QFont("DejaVu Sans Mono")
        font.setStyleHint(QFont.StyleHint.Monospace)
        font.setPointSize(9)
        self.setFont(font)
        self.setPlaceholderText("Engine messages appear here.")
        self.lines: list[str] = []  # plain copy, handy for tests and "copy all"
        self._bridge = _LogBridge(self)
        self._bridge.record.connect(self.append_line)
        self.handler = QtLogHandler(self._bridge)
        self._saved_level = logging.NOTSET

    def attach(self, logger_name: str = "ptycho_engine") -> None:
        """Show INFO and above from the engine's logger (its level is restored by detach)."""
        logger = logging.getLogger(logger_name)
        if self.handler in logger.handlers:
            return
        self._saved_level = logger.level
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)
        logger.addHandler(self.handler)

    def detach(self, logger_name: str = "ptycho_engine") -> None:
        logger = logging.getLogger(logger_name)
        if self.handler in logger.handlers:
            logger.removeHandler(self.handler)
            logger.setLevel(self._saved_level)

    @Slot(str, str)
    def append_line(self, level: str, message: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        text = f"{stamp}  {level:<7} {message}"
        self.lines.append(text)
        if len(self.lines) > self.MAX_LINES:
            del self.lines[: len(self.lines) - self.MAX_LINES]
        colour = LEVEL_COLOURS.get(level.upper(), "#202020")
        safe = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        self.appendHtml(f'<span style="color:{colour}; white-space:pre">{safe}</span>')

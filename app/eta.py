"""Elapsed / remaining time for the progress line, ticking between engine steps (plain Python).

Why: the engine reports a step at most every few seconds on a slow machine; the line must still
move every second, and a raw per-step ETA jumps. The remaining time is smoothed (exponential
average of the engine's estimates) and counts down between steps.
"""
from __future__ import annotations

import math
import time
from typing import Callable


def fmt_duration(seconds: float | None) -> str:
    """'m:ss' or 'h:mm:ss'; '—' when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    seconds = max(0, int(round(seconds)))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h:d}:{m:02d}:{s:02d}" if h else f"{m:d}:{s:02d}"


class EtaClock:
    """Feed it the engine's (elapsed, eta) at each step; read ``text()`` at any time."""

    SMOOTHING = 0.3  # weight of a new estimate

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.start(None)

    def start(self, now: float | None = None) -> None:
        self._t0 = self.clock() if now is None else now
        self._at = self._t0  # when the last estimate arrived
        self._eta: float | None = None

    def update(self, elapsed_s: float | None, eta_s: float | None) -> None:
        now = self.clock()
        if elapsed_s is not None and math.isfinite(elapsed_s):
            self._t0 = now - float(elapsed_s)
        if eta_s is not None and math.isfinite(eta_s) and eta_s >= 0:
            current = self.remaining()
            self._eta = float(eta_s) if current is None else \
                (1 - self.SMOOTHING) * current + self.SMOOTHING * float(eta_s)
            self._at = now

    def elapsed(self) -> float:
        return max(0.0, self.clock() - self._t0)

    def remaining(self) -> float | None:
        if self._eta is None:
            return None
        return max(0.0, self._eta - (self.clock() - self._at))

    def text(self) -> str:
        """'elapsed 0:12 · remaining 1:05' (remaining '—' until the first estimate)."""
        return f"elapsed {fmt_duration(self.elapsed())} · remaining {fmt_duration(self.remaining())}"

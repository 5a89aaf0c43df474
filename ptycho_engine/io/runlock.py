"""One run per folder: ``<output_dir>/.run.lock``.

A training (or pretraining) run holds an exclusive ``flock`` on the lock file for its whole life
and writes who it is (pid, host, start time) into it. A second run into the same folder -- from
the CLI or the app, in this process or another -- cannot take the lock and is refused with
:class:`RunLockedError` (a ConfigError: exit 2) naming the running one. The kernel drops the lock
when its process dies, however it dies, so a lock left by a killed run is taken over with a
warning (its content still names the dead process). The file is emptied on release, never
deleted (deleting a locked file lets two processes lock two different files).
"""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from ..config.schema import ConfigError

LOCK_NAME = ".run.lock"

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows: fall back to the pid check alone
    fcntl = None  # type: ignore[assignment]


class RunLockedError(ConfigError):
    """Another run is writing into this folder."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _describe(holder: dict[str, Any]) -> str:
    started = holder.get("started")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) if isinstance(started, (int, float)) else "?"
    return f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}, started {when} ({holder.get('what', 'run')})"


class RunLock:
    """Context manager; ``stale`` holds the description of a dead holder that was taken over."""

    def __init__(self, output_dir: str | os.PathLike[str], what: str = "training") -> None:
        self.path = Path(output_dir) / LOCK_NAME
        self.what = what
        self.stale: str | None = None
        self._fd: int | None = None

    def acquire(self) -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            raw = os.read(fd, 65536)
            try:
                holder = json.loads(raw.decode("utf-8")) if raw.strip() else {}
            except (UnicodeDecodeError, ValueError):
                holder = {}
            if not isinstance(holder, dict):
                holder = {}
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    raise RunLockedError(
                        f"another run is writing into {self.path.parent}: {_describe(holder)}; wait for it to "
                        "finish or choose another output directory") from None
            elif holder.get("pid") and holder.get("host") == socket.gethostname() and _pid_alive(int(holder["pid"])):
                raise RunLockedError(f"another run is writing into {self.path.parent}: {_describe(holder)}")
            if holder:
                self.stale = _describe(holder)
            me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(), "what": self.what}
            os.lseek(fd, 0, os.SEEK_SET)
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps(me).encode("utf-8"))
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass
        finally:
            os.close(fd)  # closing drops the flock

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def clean_stale_temp_files(*directories: str | os.PathLike[str]) -> list[Path]:
    """Delete the hidden ``.<name>.*.tmp`` files our atomic writes leave when killed.

    Only call it while holding the folder's :class:`RunLock` (then nobody else writes there).
    """
    removed: list[Path] = []
    for directory in directories:
        d = Path(directory)
        if not d.is_dir():
            continue
        for tmp in d.glob(".*.tmp"):
            if tmp.is_file():
                try:
                    tmp.unlink()
                    removed.append(tmp)
                except OSError:
                    pass
    return removed

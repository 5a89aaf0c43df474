"""The one error type of the data contract, so callers (GUI dialogs, CLI) can show *what* is wrong."""
from __future__ import annotations

import os

__all__ = ["DataContractError", "DataContractWarning"]


class DataContractError(ValueError):
    """A scan file violates the NPZ contract.

    Attributes name the file, the offending key (``None`` when the problem is the file itself,
    e.g. not a zip archive), what the contract expects and what was found; ``str()`` names all four
    so an error dialog or a log line is self-explanatory.
    """

    def __init__(
        self,
        file: str | os.PathLike[str] | None,
        key: str | None,
        expected: str,
        found: str,
        hint: str | None = None,
    ) -> None:
        self.file = os.fspath(file) if file is not None else None
        self.key = key
        self.expected = expected
        self.found = found
        self.hint = hint
        where = self.file if self.file is not None else "<in-memory scan>"
        what = f"key '{key}'" if key is not None else "file"
        message = f"{where}: {what}: expected {expected}; found {found}"
        if hint:
            message += f". {hint}"
        super().__init__(message)

    def __reduce__(self):  # keep the attributes when the error crosses a process/thread boundary
        return (type(self), (self.file, self.key, self.expected, self.found, self.hint))


class DataContractWarning(UserWarning):
    """A scan file was accepted but something was converted or ignored (also listed in ScanData.warnings)."""

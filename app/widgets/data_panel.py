"""The scans to train on (one or several), an optional validation scan, and what the engine found
in the scan being previewed (or why it refused it)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QMouseEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..units import pixel_size_of, range_text
from .elided_label import ElidedLabel

#: NPZ scans, ptychodus product files (with raw_data) and either file of a ptychodus batch folder
#: (diffraction.h5 / product-in.h5: the folder is the scan); a folder path can also be typed
SCAN_FILTER = "Ptychography scan (*.npz *.h5 *.hdf5);;NPZ scan (*.npz);;ptychodus / HDF5 (*.h5 *.hdf5);;All files (*)"
ERROR_COLOUR = "#c62828"
OK_COLOUR = "#1b6e20"
LIST_MAX_HEIGHT = 130  # about five scans; more scroll


def _local_files(event: QDragEnterEvent | QDropEvent) -> list[str]:
    """The dropped local files, in order (extensions are checked by the engine, not here)."""
    mime = event.mimeData()
    if mime is None or not mime.hasUrls():
        return []
    return [url.toLocalFile() for url in mime.urls() if url.isLocalFile()]


def summary_line(summary: Any) -> str:
    """One line about a valid scan: patterns, pattern size, photons (the probe when not N × N)."""
    parts = [f"{summary.n_patterns} patterns", f"{summary.N}×{summary.N}"]
    if tuple(summary.probe_shape) != (summary.N, summary.N):
        parts.append("probe " + "×".join(str(s) for s in summary.probe_shape))
    if summary.nphotons is not None:
        parts.append(f"{summary.nphotons:.3g} photons")
    return " · ".join(parts)


def mismatch_line(summary: Any, first: Any) -> str:
    """Why a valid scan cannot join the first one, in a few words (the engine's text is the tooltip)."""
    if first is not None and summary.N != first.N:
        return f"✘ {summary.N}×{summary.N} patterns; the first scan has {first.N}×{first.N}"
    if first is not None:
        shape = "×".join(str(s) for s in summary.probe_shape)
        return f"✘ probe {shape}; the first scan's is {'×'.join(str(s) for s in first.probe_shape)}"
    return "✘ cannot be trained with the first scan"


@dataclass
class ScanEntry:
    """One scan of the set and what is known about it."""

    path: str
    role: str = "train"  # 'train' | 'validation'
    summary: Any = None  # ScanSummary once the data contract accepted it
    error: str | None = None  # the contract's message when it refused it
    checking: bool = False
    problem: str | None = None  # valid alone, but cannot be used with the first training scan

    @property
    def name(self) -> str:
        return Path(self.path).name

    def reset(self) -> None:
        self.summary, self.error, self.problem, self.checking = None, None, None, True


def short_error(message: str, path: str) -> str:
    """The engine's message without the leading file path (the row already names the file)."""
    for prefix in (f"{path}: ", f"{Path(path)}: "):
        if message.startswith(prefix):
            return message[len(prefix):]
    return message


class ScanRow(QFrame):
    """One scan in the list, on one line: name, what the engine found (or, in red, why the scan
    cannot be used; the full message is the tooltip and the Train-disabled reason) and a remove
    button. Clicking the row previews that scan."""

    clicked = Signal(str)
    remove_clicked = Signal(str)

    def __init__(self, entry: ScanEntry, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path = entry.path
        self.setObjectName("scanRow")
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.marker = QLabel("")
        self.marker.setFixedWidth(12)
        self.name_label = QLabel(entry.name)
        self.detail = ElidedLabel("", mode=Qt.TextElideMode.ElideRight)
        self.remove_button = QToolButton()
        self.remove_button.setText("✕")
        self.remove_button.setAutoRaise(True)
        self.remove_button.setToolTip(f"Remove {entry.name} from the scans")
        self.remove_button.clicked.connect(lambda: self.remove_clicked.emit(self.path))
        self.message = ""  # the full text of what is wrong ('' when nothing is)
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 0, 2, 0)
        row.setSpacing(6)
        row.addWidget(self.marker)
        row.addWidget(self.name_label)
        row.addWidget(self.detail, 1)
        row.addWidget(self.remove_button)

    def show_entry(self, entry: ScanEntry, previewed: bool, first: Any = None) -> None:
        """``first``: the first training scan's summary (to say how this one differs)."""
        font = self.name_label.font()
        font.setBold(previewed)
        self.name_label.setFont(font)
        self.marker.setText("▶" if previewed else "")
        self.setStyleSheet("QFrame#scanRow { background-color: palette(alternate-base); border-radius: 3px; }"
                           if previewed else "")
        self.message = "" if entry.checking else (entry.error or entry.problem or "")
        if entry.checking:
            text = "checking…"
        elif entry.error:
            text = "✘ " + short_error(entry.error, entry.path)
        elif entry.problem and entry.summary is not None:
            text = mismatch_line(entry.summary, first)
        elif entry.summary is not None:
            text = summary_line(entry.summary)
        else:
            text = ""
        self.detail.setText(text)
        self.detail.setStyleSheet(f"color: {ERROR_COLOUR};" if self.message else "color: palette(dark);")
        tip = f"{entry.path}\n\n{self.message}" if self.message else f"{entry.path}\n{text}"
        self.detail.setToolTip(tip)
        self.name_label.setToolTip(tip)
        self.setToolTip(tip + "\n\nClick to preview this scan")

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit(self.path)
        super().mousePressEvent(event)


class DataPanel(QGroupBox):
    """The scans (dialog, typed path or drag and drop), the validation scan and the previewed
    scan's summary.

    It keeps the list and reports what the user asked for (signals); the window validates every
    scan off the GUI thread and reports back with :meth:`show_loading`, :meth:`show_summary` and
    :meth:`show_error`. The *previewed* scan is the one the summary grid and the Scan tab show and
    the one Infer reconstructs; it is the first training scan unless the user clicks another.
    """

    file_chosen = Signal(str)  # open this scan alone (replaces the training scans)
    files_chosen = Signal(list)  # open these scans (replaces the training scans)
    files_added = Signal(list)  # add these scans to the training scans
    remove_requested = Signal(str)  # remove this training scan
    validation_chosen = Signal(str)  # '' = no validation scan (a split of the training groups)
    preview_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Scan data", parent)
        self.setAcceptDrops(True)
        self.train_entries: list[ScanEntry] = []
        self.validation_entry: ScanEntry | None = None
        self.previewed: str | None = None
        self.rows: dict[str, ScanRow] = {}
        self._edit_shows: str | None = None

        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("NPZ scan file — browse, type a path or drop files here")
        self.path_edit.returnPressed.connect(self._typed)
        self.browse_button = QPushButton("Open…")
        self.browse_button.setToolTip("Open one scan (replaces the scans listed)")
        self.browse_button.clicked.connect(self.browse)
        self.add_button = QPushButton("Add scans…")
        self.add_button.setToolTip("Add more scans to train on (select several in the dialog). They must have the "
                                   "same pattern size N and probe shape as the first; drop files with Ctrl held to "
                                   "add them too")
        self.add_button.clicked.connect(self.browse_add)
        file_row = QHBoxLayout()
        file_row.addWidget(self.path_edit, 1)
        file_row.addWidget(self.browse_button)
        file_row.addWidget(self.add_button)

        # the training scans (shown when there are several)
        self.list_title = QLabel("")
        self.list_body = QWidget()
        self.list_layout = QVBoxLayout(self.list_body)
        self.list_layout.setContentsMargins(0, 0, 0, 0)
        self.list_layout.setSpacing(1)
        self.list_scroll = QScrollArea()
        self.list_scroll.setWidgetResizable(True)
        self.list_scroll.setFrameShape(QFrame.Shape.StyledPanel)
        self.list_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list_scroll.setWidget(self.list_body)

        # the validation scan
        self.validation_label = ElidedLabel("")
        self.validation_button = QPushButton("Validation scan…")
        self.validation_button.setToolTip("Compute the validation loss on a separate scan instead of a split of the "
                                          "training groups (validation_fraction)")
        self.validation_button.clicked.connect(self.browse_validation)
        self.validation_row_box = QVBoxLayout()
        self.validation_row_box.setContentsMargins(0, 0, 0, 0)
        validation_line = QHBoxLayout()
        validation_line.addWidget(self.validation_label, 1)
        validation_line.addWidget(self.validation_button)

        self.status_label = QLabel("No scan selected")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self._values: dict[str, QLabel] = {}
        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setVerticalSpacing(2)
        grid.setHorizontalSpacing(8)
        items = (
            ("patterns", "Patterns"),
            ("N", "Pattern size"),
            ("probe", "Probe"),
            ("gt", "Ground truth"),
            ("x", "x extent"),
            ("y", "y extent"),
            ("nphotons", "Photons/pattern"),
        )
        wide = ("x", "y", "nphotons")  # the long texts (px and µm, photons and source) get a whole row
        for i, (key, title) in enumerate(items):
            value = QLabel("—")
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self._values[key] = value
            r, col = divmod(i, 2)
            if key in wide:
                r, col = (len(items) - len(wide) + 1) // 2 + wide.index(key), 0
            caption = QLabel(title + ":")
            caption.setStyleSheet("color: palette(dark);")
            grid.addWidget(caption, r, 2 * col)
            grid.addWidget(value, r, 2 * col + 1, 1, 3 if key in wide else 1)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        self.warnings_label = QLabel("")
        self.warnings_label.setWordWrap(True)
        self.warnings_label.setStyleSheet("color: #8a5a00;")
        self.warnings_label.hide()

        layout = QVBoxLayout(self)
        layout.addLayout(file_row)
        layout.addWidget(self.list_title)
        layout.addWidget(self.list_scroll)
        layout.addLayout(validation_line)
        layout.addLayout(self.validation_row_box)
        layout.addWidget(self.status_label)
        layout.addLayout(grid)
        layout.addWidget(self.warnings_label)
        self._rebuild()

    # ---- what is selected -------------------------------------------------------------------
    @property
    def train_paths(self) -> list[str]:
        return [e.path for e in self.train_entries]

    @property
    def validation_path(self) -> str | None:
        return self.validation_entry.path if self.validation_entry is not None else None

    def entries(self) -> list[ScanEntry]:
        """Every scan: the training scans in order, then the validation scan."""
        return self.train_entries + ([self.validation_entry] if self.validation_entry is not None else [])

    def entry(self, path: str) -> ScanEntry | None:
        for e in self.entries():
            if e.path == path:
                return e
        return None

    def previewed_entry(self) -> ScanEntry | None:
        return self.entry(self.previewed) if self.previewed is not None else None

    @property
    def summary(self) -> Any:
        """The previewed scan's ScanSummary (None while unchecked or refused)."""
        e = self.previewed_entry()
        return e.summary if e is not None else None

    @property
    def error(self) -> str | None:
        """The previewed scan's data-contract error, if it was refused."""
        e = self.previewed_entry()
        return e.error if e is not None else None

    # ---- changing the set (called by the window) --------------------------------------------
    def set_train_paths(self, paths: list[str]) -> list[ScanEntry]:
        """Replace the training scans; the first is previewed. Returns the entries to check."""
        self.train_entries = [ScanEntry(p) for p in _unique(paths) if p != self.validation_path]
        self.previewed = self.train_entries[0].path if self.train_entries else None
        self._rebuild()
        return list(self.train_entries)

    def add_train_paths(self, paths: list[str]) -> list[ScanEntry]:
        """Append scans not already listed; returns the new entries (to check)."""
        known = {str(Path(e.path).resolve()) for e in self.entries()}
        new = []
        for p in _unique(paths):
            if str(Path(p).resolve()) not in known:
                new.append(ScanEntry(p))
                known.add(str(Path(p).resolve()))
        self.train_entries.extend(new)
        if self.previewed is None and self.train_entries:
            self.previewed = self.train_entries[0].path
        self._rebuild()
        return new

    def remove_train_path(self, path: str) -> None:
        self.train_entries = [e for e in self.train_entries if e.path != path]
        if self.previewed == path:
            self.previewed = self.train_entries[0].path if self.train_entries else None
        self._rebuild()

    def set_validation_path(self, path: str | None) -> ScanEntry | None:
        """Set (or clear, with None) the validation scan; returns its entry (to check)."""
        if self.previewed is not None and self.previewed == self.validation_path:
            self.previewed = self.train_entries[0].path if self.train_entries else None
        self.validation_entry = ScanEntry(path, role="validation") if path else None
        self._rebuild()
        return self.validation_entry

    def set_previewed(self, path: str) -> None:
        self.previewed = path
        self._rebuild()

    # ---- user input -------------------------------------------------------------------------
    def _start_dir(self) -> str:
        return str(Path(self.previewed).parent) if self.previewed else ""

    @Slot()
    def browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open scan", self._start_dir(), SCAN_FILTER)
        if path:
            self.choose(path)

    @Slot()
    def browse_add(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Add scans to train on", self._start_dir(), SCAN_FILTER)
        if paths:
            self.files_added.emit(list(paths))

    @Slot()
    def browse_validation(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Validation scan", self._start_dir(), SCAN_FILTER)
        if path:
            self.validation_chosen.emit(path)

    @Slot()
    def _typed(self) -> None:
        if self.path_edit.text().strip():
            self.choose(self.path_edit.text().strip())

    def choose(self, path: str | Path) -> None:
        """Select ``path`` as the only training scan (same effect as the dialog or a drop)."""
        self.path_edit.setText(str(path))
        self.file_chosen.emit(str(path))

    def add(self, paths: list[str | Path]) -> None:
        """Add scans to the training scans (same effect as "Add scans…")."""
        self.files_added.emit([str(p) for p in paths])

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if _local_files(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        """Dropped scans replace the training scans; with Ctrl held they are added."""
        paths = _local_files(event)
        if not paths:
            return
        event.acceptProposedAction()
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.files_added.emit(paths)
        elif len(paths) == 1:
            self.choose(paths[0])
        else:
            self.path_edit.setText(paths[0])
            self.files_chosen.emit(paths)

    # ---- results ----------------------------------------------------------------------------
    def show_loading(self, path: str) -> None:
        e = self.entry(path)
        if e is not None:
            e.reset()
        self._rebuild()

    def show_summary(self, summary: Any, path: str | None = None) -> None:
        """The engine accepted the scan (``path``: as requested; default the previewed one)."""
        e = self.entry(path or self.previewed or "")
        if e is not None:
            e.summary, e.error, e.checking = summary, None, False
        self._rebuild()

    def show_error(self, message: str, path: str | None = None) -> None:
        """Show the engine's contract error in place (red) — the window disables Train."""
        e = self.entry(path or self.previewed or "")
        if e is not None:
            e.summary, e.error, e.checking, e.problem = None, message, False, None
        self._rebuild()

    def set_problems(self, problems: dict[str, str]) -> None:
        """Scans that are valid alone but cannot be used with the first training scan."""
        for e in self.entries():
            e.problem = problems.get(e.path)
        self._rebuild()

    # ---- drawing ----------------------------------------------------------------------------
    def _rebuild(self) -> None:
        self._rebuild_list()
        self._show_validation()
        self._show_previewed()

    def _make_row(self, entry: ScanEntry, removable: bool) -> ScanRow:
        row = self.rows.get(entry.path)
        if row is None:
            row = ScanRow(entry)
            row.clicked.connect(self._row_clicked)
            row.remove_clicked.connect(self._row_removed)
            self.rows[entry.path] = row
        row.remove_button.setEnabled(removable)
        return row

    def _rebuild_list(self) -> None:
        several = len(self.train_entries) > 1
        wanted = {e.path for e in self.entries()}
        for path in list(self.rows):
            if path not in wanted:
                self.rows.pop(path).deleteLater()
        while self.list_layout.count():
            self.list_layout.takeAt(0)
        first = self.train_entries[0].summary if self.train_entries else None
        for e in self.train_entries:
            row = self._make_row(e, removable=several)
            row.show_entry(e, e.path == self.previewed, first)
            self.list_layout.addWidget(row)
        self.list_layout.addStretch(1)
        n_bad = sum(1 for e in self.train_entries if e.error or e.problem)
        bad = f", {n_bad} not usable" if n_bad else ""
        self.list_title.setText(f"<b>Training scans ({len(self.train_entries)}{bad})</b> — click one to preview it")
        self.list_title.setToolTip("Every scan is trained on; the first sets the pattern size N and the probe shape, "
                                   "which the others must share. n_groups applies to each scan.")
        self.list_title.setVisible(several)
        self.list_scroll.setVisible(several)
        self._fit_list_height()

    def _fit_list_height(self) -> None:
        """As tall as the rows up to LIST_MAX_HEIGHT, then it scrolls."""
        if not self.list_scroll.isVisibleTo(self):
            return
        height = sum(self.rows[e.path].sizeHint().height() + self.list_layout.spacing() for e in self.train_entries)
        self.list_scroll.setFixedHeight(min(height + 2 * self.list_scroll.frameWidth(), LIST_MAX_HEIGHT))

    def _show_validation(self) -> None:
        while self.validation_row_box.count():
            self.validation_row_box.takeAt(0)
        e = self.validation_entry
        if e is None:
            self.validation_label.setText("Validation: a split of the training groups")
            self.validation_label.setToolTip("validation_fraction of the training groups are held out for the "
                                             "validation loss")
            self.validation_button.setText("Validation scan…")
            return
        self.validation_label.setText("Validation: on a separate scan")
        self.validation_label.setToolTip("The validation loss is computed on this scan; validation_fraction does "
                                         "not apply")
        self.validation_button.setText("Change…")
        row = self._make_row(e, removable=True)
        row.remove_button.setToolTip("Validate on a split of the training groups instead")
        row.show_entry(e, e.path == self.previewed, self.train_entries[0].summary if self.train_entries else None)
        self.validation_row_box.addWidget(row)

    def _show_previewed(self) -> None:
        if self.previewed != self._edit_shows:  # keep what the user is typing unless the preview moved
            self._edit_shows = self.previewed
            self.path_edit.setText(self.previewed or "")
        e = self.previewed_entry()
        if e is None:
            self.status_label.setStyleSheet("")
            self.status_label.setText("No scan selected")
            self._clear_values()
            return
        if e.checking:
            self.status_label.setStyleSheet("color: palette(mid);")
            self.status_label.setText(f"Checking {e.name}…")
            self._clear_values()
        elif e.error:
            self.status_label.setStyleSheet(f"color: {ERROR_COLOUR}; font-weight: bold;")
            self.status_label.setText(f"✘ {e.error}")
            self._clear_values()
        elif e.summary is not None:
            self.status_label.setStyleSheet(f"color: {OK_COLOUR};")
            what = "validation scan" if e.role == "validation" else "valid scan"
            shown = " — shown below and in the Scan tab" if len(self.entries()) > 1 else ""
            self.status_label.setText(f"✔ {e.name}: {what}{shown}")
            self._fill_values(e.summary)

    def _fill_values(self, summary: Any) -> None:
        v = self._values
        v["patterns"].setText(f"{summary.n_patterns}")
        v["N"].setText(f"{summary.N} × {summary.N}")
        v["probe"].setText(" × ".join(str(s) for s in summary.probe_shape))
        size = pixel_size_of(summary)  # px, and nm / µm when the scan records its pixel size
        v["x"].setText(_fmt_range(summary.x_range, size))
        v["y"].setText(_fmt_range(summary.y_range, size))
        v["gt"].setText("yes (objectGuess)" if summary.has_ground_truth else "no")
        if summary.nphotons is None:
            v["nphotons"].setText("not recorded in the file")
        else:
            v["nphotons"].setText(f"{summary.nphotons:.3g}  (from {summary.nphotons_source or 'file'})")
        warnings = list(getattr(summary, "warnings", []) or [])
        self.warnings_label.setText("\n".join(f"⚠ {w}" for w in warnings))
        self.warnings_label.setVisible(bool(warnings))

    def _clear_values(self) -> None:
        for value in self._values.values():
            value.setText("—")
        self.warnings_label.hide()

    @Slot(str)
    def _row_clicked(self, path: str) -> None:
        if path != self.previewed:
            self.preview_requested.emit(path)

    @Slot(str)
    def _row_removed(self, path: str) -> None:
        if self.validation_entry is not None and path == self.validation_entry.path:
            self.validation_chosen.emit("")
        else:
            self.remove_requested.emit(path)


def _unique(paths: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for p in paths:
        key = str(Path(p).resolve())
        if key not in seen:
            seen.add(key)
            out.append(str(p))
    return out


def _fmt_range(r: Any, size_m: float | None = None) -> str:
    try:
        lo, hi = r
        return range_text(float(lo), float(hi), size_m)
    except (TypeError, ValueError):
        return str(r)

"""The window's scan set: which scans train, which is previewed, their checks in the IO thread,
and what the form shows from them (N, nphotons, n_groups). A mixin of :class:`MainWindow`, kept
apart because it is one job: the window's layout and run handling live elsewhere."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import Slot

from ptycho_engine import api

from .units import pixel_size_of
from .widgets.data_panel import ScanEntry
from .widgets.overrides_form import OverridesForm

# Fields the factory needs but the schema leaves empty; a value that suits the demo scan.
TRAINING_GUI_DEFAULTS: dict[str, Any] = {"n_groups": 512}


def _same_file(a: str | Path, b: str | Path) -> bool:
    return Path(a).resolve() == Path(b).resolve()


class ScanSetMixin:
    """Scan-set slots and state of the main window (uses its panels, form and IO signals).

    Methods here are not Qt slots (a mixin's @Slot is not registered on the window): anything a
    worker thread calls goes through an @Slot wrapper on MainWindow, so it runs queued, on the
    GUI thread (see ``MainWindow._on_scan_loaded``).
    """

    @property
    def scan_busy(self) -> bool:
        """True while any scan of the set is being checked in the IO thread."""
        return bool(self._requests)

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

    def _scan_loaded(self, request: int, summary: Any, preview: Any) -> None:
        path, with_preview = self._requests.pop(request, ("", False))
        entry = self.data_panel.entry(path)
        if entry is not None and not self._in_flight(path):
            self.data_panel.show_summary(summary, path)
        current = with_preview and request == self._scan_request and path == self.data_panel.previewed
        if current:
            size = pixel_size_of(summary)  # axes and read-outs in nm / µm when the scan says
            for view in (self.results_view.images, self.training_views.images, self.scan_views):
                view.set_pixel_size(size)
            self.scan_views.set_preview(preview)  # after the pixel size: its pattern note uses it
            self.session.data_file = Path(summary.path)
            if self.job is None and self.progress_label.text().startswith("Failed"):
                self.run_panel.finish("Ready.", ok=False, bar_text="idle")  # a new scan: the old failure is history
        if isinstance(self.train_form, OverridesForm) and entry is not None and entry.role == "train":
            # at gridsize 1 a group is one pattern; with several scans n_groups is per scan
            counts = [e.summary.n_patterns for e in self.data_panel.train_entries if e.summary is not None]
            if counts:
                self.train_form.adapt_default("n_groups", min(TRAINING_GUI_DEFAULTS["n_groups"], max(counts)))
            self._show_file_values()
        self._refresh_scan_set()
        if current:
            self.scan_loaded.emit(summary)
        self._maybe_all_checked()

    def _scan_failed(self, request: int, message: str, path: str) -> None:
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

    def _show_file_values(self) -> None:
        """What the training scans supply (N from the probe, nphotons from the metadata) shows
        in the form as "from file: …" — the value the run will use unless one is typed — and
        n_groups says how many groups the scans hold."""
        if not isinstance(self.train_form, OverridesForm):
            return
        first = self.data_panel.train_entries[0] if self.data_panel.train_entries else None
        summary = first.summary if first is not None else None
        if summary is None:
            return
        self.train_form.set_file_values({"N": int(summary.N), "nphotons": summary.nphotons},
                                        "from file" if len(self.data_panel.train_entries) == 1 else "from the first file")
        self._update_n_groups_note()

    @Slot()
    def _update_n_groups_note(self) -> None:
        """Beside n_groups: how many patterns the scans hold, and the value a run would really use."""
        if not isinstance(self.train_form, OverridesForm):
            return
        counts = [e.summary.n_patterns for e in self.data_panel.train_entries if e.summary is not None]
        editor = self.train_form.editors.get("n_groups")
        if editor is not None and counts:
            try:
                wanted = editor.value()
            except Exception:  # noqa: BLE001 - an invalid value is flagged by the form itself
                wanted = None
            most = max(counts)
            gridsize = self.train_form.values().get("gridsize", 1)
            note = f"of {most} patterns" if len(counts) == 1 else f"per scan (≤ {most} patterns)"
            if wanted is not None and wanted > most and gridsize == 1:
                note = f"→ {most} used (the scan has {most} patterns)"
            self.train_form.set_note("n_groups", note)

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

"""Save / load a parameters form as a TOML settings file — the format ``ptycho-engine --config`` reads.

Why the CLI's format: a beamline operator tunes settings in the window and a script or batch job
reruns them with ``ptycho-engine train --config file.toml``; one file, read by both. A file holds
one form (training or inference: both have e.g. ``n_groups``, and the tables are flattened on
reading), grouped in the schema's tables (``[model]``, ``[training]``, …) like the demo preset.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QFileDialog

from ptycho_engine import api
from ptycho_engine.config.schema import ConfigError, coerce

from .plain_errors import plain
from .widgets.overrides_form import GROUP_ORDER, OverridesForm

if TYPE_CHECKING:  # pragma: no cover
    from .main_window import MainWindow

KINDS = {"train": ("training", "ptycho-engine train"), "infer": ("inference", "ptycho-engine infer")}
FILE_FILTER = "Settings files (*.toml);;All files (*)"


def toml_value(value: Any) -> str:
    """One value as TOML (strings JSON-escaped: a valid TOML basic string)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if value is None:
        return '"none"'  # an optional field set back to empty: the schema reads "none" as None
    return json.dumps(str(value))


def settings_text(form: OverridesForm, backend: str, kind: str) -> str:
    """The form's edited values (and the backend) as a commented TOML file, tables by group."""
    title, command = KINDS[kind]
    values = dict(form.overrides())
    by_group: dict[str, list[tuple[str, Any]]] = {}
    for name, value in values.items():
        by_group.setdefault(form.editors[name].spec.group, []).append((name, value))
    lines = [f"# Ptycho Studio {title} settings (the values that differ from the defaults).",
             f"# Rerun them from a shell: {command} … --config <this file>", ""]
    home = "training" if kind == "train" else "inference"
    by_group.setdefault(home, []).insert(0, ("backend", backend))
    for group in sorted(by_group, key=lambda g: GROUP_ORDER.index(g) if g in GROUP_ORDER else 99):
        lines.append(f"[{group}]")
        lines.extend(f"{name} = {toml_value(value)}" for name, value in by_group[group])
        lines.append("")
    return "\n".join(lines)


def save_settings(window: "MainWindow", path: Path, kind: str) -> Path:
    """Write the ``kind`` ('train' / 'infer') form to ``path`` (OSError on failure)."""
    form = window.train_form if kind == "train" else window.infer_form
    assert isinstance(form, OverridesForm)
    backend = window.backends[kind].value() if kind in window.backends else "pytorch"
    path = Path(path)
    path.write_text(settings_text(form, backend, kind), encoding="utf-8")
    return path


def _target_kind(window: "MainWindow", names: set[str]) -> str:
    """The form a file belongs to: the shown tab's, unless only the other knows all its names."""
    shown = "train" if window.params_tabs.currentIndex() == 0 else "infer"
    other = "infer" if shown == "train" else "train"

    def known(kind: str) -> bool:
        form = window.train_form if kind == "train" else window.infer_form
        return isinstance(form, OverridesForm) and names - {"backend"} <= set(form.editors)

    return other if not known(shown) and known(other) else shown


def load_settings(window: "MainWindow", path: Path) -> tuple[str, list[str]]:
    """Fill a form from ``path``: the form is reset to its defaults first, so it then shows what
    ``--config <path>`` would run. Returns (kind filled, problems — each naming the field);
    raises ConfigError (naming the file) when the file cannot be read at all."""
    path = Path(path)
    values = api.read_settings_file(path)
    kind = _target_kind(window, set(values))
    form = window.train_form if kind == "train" else window.infer_form
    assert isinstance(form, OverridesForm)
    problems: list[str] = []
    typed: dict[str, Any] = {}
    for name, value in values.items():
        if name == "backend":
            chooser = window.backends.get(kind)
            if chooser is None or not chooser.set_value(str(value)):
                why = chooser.tf_reason if chooser is not None and value == "tensorflow" else \
                    "expected 'pytorch' or 'tensorflow'"
                problems.append(f"backend = {value!r}: {why}")
            continue
        editor = form.editors.get(name)
        if editor is None:
            problems.append(f"{name}: not a {KINDS[kind][0]} setting this window offers (ignored)")
            continue
        try:
            typed[name] = coerce(editor.spec, value, source=path.name)
        except ConfigError as exc:
            problems.append(plain(editor.spec, str(exc)))
    if "backend" not in values and kind in window.backends:
        window.backends[kind].set_value("pytorch")
    form.reset_defaults()
    form.set_values(typed)
    return kind, problems


def save_dialog(window: "MainWindow") -> None:
    """File → Save settings…: the shown parameters tab, to a file the user picks."""
    kind = "train" if window.params_tabs.currentIndex() == 0 else "infer"
    form = window.train_form if kind == "train" else window.infer_form
    if not isinstance(form, OverridesForm):
        window._show_error("Nothing to save", str(form))
        return
    start = str((window.output_dir or Path.home()) / f"{KINDS[kind][0]}.toml")
    name, _ = QFileDialog.getSaveFileName(window, f"Save the {KINDS[kind][0]} settings", start, FILE_FILTER)
    if not name:
        return
    try:
        path = save_settings(window, Path(name), kind)
    except OSError as exc:
        window._show_error("Could not save the settings", f"{name}: {exc.strerror or exc}")
        return
    window.status_message.setText(f"Saved the {KINDS[kind][0]} settings to {path}")
    window.log_pane.append_line("INFO", f"Saved the {KINDS[kind][0]} settings to {path}")


def load_dialog(window: "MainWindow") -> None:
    """File → Load settings…: pick a TOML file and fill the form it belongs to."""
    start = str(window.output_dir or Path.home())
    name, _ = QFileDialog.getOpenFileName(window, "Load settings", start, FILE_FILTER)
    if name:
        load_into_window(window, Path(name))


def load_into_window(window: "MainWindow", path: Path) -> bool:
    """Load ``path`` and tell the user: a dialog names the file and every field not taken."""
    try:
        kind, problems = load_settings(window, path)
    except ConfigError as exc:
        window._show_error("Could not read the settings file", str(exc))
        return False
    window.params_tabs.setCurrentIndex(0 if kind == "train" else 1)
    title = KINDS[kind][0]
    if problems:
        window._show_error(f"Some settings in {path.name} were not used",
                           f"{path}:\n" + "\n".join(f"• {p}" for p in problems))
    window.status_message.setText(f"Loaded the {title} settings from {path}")
    window.log_pane.append_line("WARNING" if problems else "INFO", f"Loaded the {title} settings from {path}"
                                + (f" ({len(problems)} not used)" if problems else ""))
    return not problems

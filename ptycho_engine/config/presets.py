"""Settings files (TOML) and the bundled presets, shared by the CLI's ``--config`` and the GUI.

A settings file holds override names and values, optionally in tables such as ``[model]`` or
``[training]``; the tables only group things for people and are flattened here. Names and
values are checked later by the factory, like any other override.
"""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from .schema import ConfigError


def read_settings_file(path: str | Path) -> dict[str, Any]:
    """Flattened ``{name: value}`` from a TOML settings file; ConfigError names the file and problem."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"settings file not found: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a valid TOML settings file ({exc})") from None
    except IsADirectoryError:
        raise ConfigError(f"settings file {path} is a directory; expected a TOML file") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a settings file") from None
    except OSError as exc:
        raise ConfigError(f"settings file {path} cannot be read ({exc.strerror or exc})") from None
    flat: dict[str, Any] = {}
    for key, value in data.items():
        items = value.items() if isinstance(value, dict) else [(key, value)]
        for name, item in items:
            if name in flat:
                raise ConfigError(f"{path}: {name!r} is set twice")
            flat[name] = item
    return flat

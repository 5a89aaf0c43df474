"""TOML settings files (the CLI's --config and the GUI's presets) and the bundled demo preset."""
from __future__ import annotations

from pathlib import Path

import pytest

from ptycho_engine import api
from ptycho_engine.config.overrides import coerce_overrides
from ptycho_engine.config.presets import read_settings_file
from ptycho_engine.config.schema import ConfigError


def test_tables_are_flattened(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('nepochs = 3\n[model]\ngridsize = 2\n[execution]\nlearning_rate = 5e-4\n')
    assert read_settings_file(path) == {"nepochs": 3, "gridsize": 2, "learning_rate": 5e-4}


def test_a_name_set_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('[model]\ngridsize = 2\n[training]\ngridsize = 1\n')
    with pytest.raises(ConfigError, match="gridsize"):
        read_settings_file(path)


@pytest.mark.parametrize("text", ["nepochs = = 3", "[model\ngridsize = 2"])
def test_broken_toml_names_the_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="broken.toml"):
        read_settings_file(path)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nowhere.toml"):
        read_settings_file(tmp_path / "nowhere.toml")


def test_bundled_demo_preset_holds_only_valid_settings() -> None:
    preset = read_settings_file(api.demo_preset_path())
    assert preset, "the demo preset is empty"
    typed = coerce_overrides(preset, "training")  # raises on an unknown name, a bad type or range
    assert set(typed) <= {s.name for s in api.training_fields()}

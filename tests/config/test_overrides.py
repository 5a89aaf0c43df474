"""The override schema that drives the CLI flags and the GUI form."""
from __future__ import annotations

from pathlib import Path

import pytest

from ptycho_engine.config.overrides import (
    aliases,
    coerce_overrides,
    field_spec,
    group_fields,
    inference_override_fields,
    override_fields,
    resolve_name,
    training_override_fields,
)
from ptycho_engine.config.schema import GROUPS, ConfigError


def test_fields_are_unique_and_grouped():
    for fields in (override_fields(), training_override_fields(), inference_override_fields()):
        names = [s.name for s in fields]
        assert len(names) == len(set(names))
        assert all(s.group in GROUPS for s in fields)
        assert all(s.help for s in fields)
    groups = group_fields(training_override_fields())
    assert list(groups) == ["model", "training", "data", "execution"]
    assert "inference" in group_fields(inference_override_fields())


def test_pytorch_names_are_aliases_not_fields():
    names = {s.name for s in override_fields()}
    for alias in ("grid_size", "epochs", "K", "mode", "nll", "C", "C_model"):
        assert alias not in names
    assert aliases()["grid_size"] == "gridsize"
    assert resolve_name("grid_size") == "gridsize"
    assert resolve_name("epochs") == "nepochs"
    assert resolve_name("max_epochs") == "nepochs"
    assert resolve_name("K") == "neighbor_count"
    assert resolve_name("mode") == "model_type"
    assert resolve_name("nll") == "nll_weight"
    assert resolve_name("nepochs") == "nepochs"


def test_training_and_inference_lists_differ():
    train = {s.name for s in training_override_fields()}
    infer = {s.name for s in inference_override_fields()}
    assert {"gridsize", "nepochs", "learning_rate", "n_groups", "validation_fraction", "seed",
            "preview_every_n_epochs", "resume", "test_data_file"} <= train
    assert {"n_groups", "stitch_weighting", "inference_batch_size", "accelerator", "debug"} <= infer
    assert not {"gridsize", "N", "nepochs", "learning_rate"} & infer  # model fields come from the archive
    assert not {"stitch_weighting", "inference_batch_size", "debug"} & train
    assert not {"train_data_file", "output_dir", "model_path"} & (train | infer)
    assert "backend" in train and "backend" in infer  # issue 14: --backend pytorch|tensorflow
    assert next(s for s in training_override_fields() if s.name == "n_groups").required
    assert not next(s for s in inference_override_fields() if s.name == "n_groups").required


@pytest.mark.parametrize("wrong, suggestion", [
    ("nepoch", "nepochs"), ("gridsze", "gridsize"), ("learning_rat", "learning_rate"),
    ("batchsize", "batch_size"), ("n_group", "n_groups"), ("epoch", "epochs"),
])
def test_unknown_name_suggests_the_closest(wrong, suggestion):
    with pytest.raises(ConfigError, match=f"unknown override '{wrong}'.*did you mean '{suggestion}'\\?"):
        resolve_name(wrong)


def test_unknown_name_without_any_close_match_lists_valid_names():
    with pytest.raises(ConfigError, match="valid names:.*nepochs"):
        resolve_name("zzzzqqq", "training")


def test_context_errors_say_why():
    with pytest.raises(ConfigError, match="'learning_rate' is a training setting; it does not apply to inference"):
        resolve_name("learning_rate", "inference")
    with pytest.raises(ConfigError, match="'stitch_weighting' is an inference setting"):
        resolve_name("stitch_weighting", "training")
    with pytest.raises(ConfigError, match="C is derived"):
        resolve_name("C", "training")
    with pytest.raises(ConfigError, match="output_dir argument"):
        resolve_name("output_dir", "training")
    assert resolve_name("batch_size", "inference") == "inference_batch_size"
    assert resolve_name("batch_size", "training") == "batch_size"
    assert resolve_name("patch_weighting", "inference") == "stitch_weighting"
    assert resolve_name("gridsize", "inference") == "gridsize"  # accepted; checked against the archive


def test_string_coercion_from_cli_like_input():
    out = coerce_overrides({
        "nepochs": "20", "gridsize": "2", "learning_rate": "5e-4", "object_big": "false",
        "probe_trainable": "yes", "n_subsample": "", "subsample_seed": "none", "nphotons": "1e6",
        "amp_activation": "SiLU", "mode": "Supervised", "grid_size": "2x2", "nll": "false",
        "test_data_file": "/data/t.npz", "gradient_clip_val": "0.5", "batch_size": "8.0",
    }, "training")
    assert out == {
        "nepochs": 20, "gridsize": 2, "learning_rate": 5e-4, "object_big": False, "probe_trainable": True,
        "n_subsample": None, "subsample_seed": None, "nphotons": 1e6, "amp_activation": "swish",
        "model_type": "supervised", "nll_weight": 0.0, "test_data_file": Path("/data/t.npz"),
        "gradient_clip_val": 0.5, "batch_size": 8,
    }
    assert isinstance(out["nphotons"], float) and isinstance(out["nepochs"], int)


def test_wrong_type_is_a_config_error():
    with pytest.raises(ConfigError, match="nepochs: expected int, got 'ten'"):
        coerce_overrides({"nepochs": "ten"})
    with pytest.raises(ConfigError, match="batch_size: expected int, got 2.5"):
        coerce_overrides({"batch_size": 2.5})
    with pytest.raises(ConfigError, match="object_big: expected bool"):
        coerce_overrides({"object_big": "maybe"})
    with pytest.raises(ConfigError, match="nepochs: expected int, got True"):
        coerce_overrides({"nepochs": True})
    with pytest.raises(ConfigError, match="gridsize: a value is required"):
        coerce_overrides({"gridsize": None})


def test_out_of_bounds_and_choices_are_config_errors():
    with pytest.raises(ConfigError, match=r"nepochs: expected a value in \[1, 100000\], got 0"):
        coerce_overrides({"nepochs": 0})
    with pytest.raises(ConfigError, match=r"validation_fraction: expected a value in \[0, 0.5\], got 0.9"):
        coerce_overrides({"validation_fraction": "0.9"})
    with pytest.raises(ConfigError, match=r"N: expected one of \[64, 128, 256\], got 100"):
        coerce_overrides({"N": 100})
    with pytest.raises(ConfigError, match="Unknown activation 'tanh'"):
        coerce_overrides({"amp_activation": "tanh"})
    with pytest.raises(ConfigError, match="accelerator: expected one of"):
        coerce_overrides({"accelerator": "tpu"})
    with pytest.raises(ConfigError, match="Non-square grids"):
        coerce_overrides({"grid_size": (2, 3)})
    with pytest.raises(ConfigError, match="nphotons: expected a finite number"):
        coerce_overrides({"nphotons": "inf"})


def test_batch_size_need_not_be_a_power_of_two():
    assert coerce_overrides({"batch_size": 12}) == {"batch_size": 12}


def test_two_names_for_one_field_must_agree():
    assert coerce_overrides({"epochs": 5, "nepochs": "5"}) == {"nepochs": 5}
    with pytest.raises(ConfigError, match="'epochs' and 'nepochs' both set nepochs"):
        coerce_overrides({"epochs": 5, "nepochs": 6})


def test_field_spec_by_alias():
    spec = field_spec("epochs")
    assert spec.name == "nepochs" and spec.default == 50 and spec.group == "training"
    assert field_spec("K").bounds == (1, 64)

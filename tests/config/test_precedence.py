"""The five precedence levels, field by field, and the provenance each value records."""
from __future__ import annotations

import pytest

from ptycho_engine.config.execution import PyTorchExecutionConfig
from ptycho_engine.config.factory import create_training_payload, resolve_field

pytestmark = pytest.mark.filterwarnings("ignore:accelerator 'auto'")

LEVELS = ["override", "execution_config", "cli_default", "pytorch_default", "canonical_default"]


def test_resolve_field_each_level_beats_the_ones_below():
    for top in range(len(LEVELS)):
        levels = [(src, {"x": f"v{i}"}) for i, src in enumerate(LEVELS) if i >= top]
        assert resolve_field("x", levels) == (f"v{top}", LEVELS[top])
    # a level that does not define the name is skipped, even when it defines others
    assert resolve_field("x", [("override", {"y": 1}), ("cli_default", {"x": 2})]) == (2, "cli_default")
    with pytest.raises(KeyError):
        resolve_field("x", [("override", {})])


def _lr(payload):
    assert not hasattr(payload.pt_training_config, "learning_rate")  # declared once: execution config
    return payload.execution_config.learning_rate, payload.overrides_applied["learning_rate"]["source"]


def test_learning_rate_through_every_level(mock_train_npz, temp_output_dir):
    """learning_rate is declared once, in the execution config (the trainer reads it there)."""
    base = {"n_groups": 16}
    ex = PyTorchExecutionConfig(learning_rate=2e-3)
    cli = {"learning_rate": 3e-3}
    make = lambda ov, ex_cfg, cd: _lr(create_training_payload(mock_train_npz, temp_output_dir,
                                                               {**base, **ov}, ex_cfg, cd))
    assert make({"learning_rate": 1e-4}, ex, cli) == (1e-4, "override")
    assert make({}, ex, cli) == (2e-3, "execution_config")
    assert make({}, None, cli) == (3e-3, "cli_default")
    assert make({}, None, None) == (1e-3, "pytorch_default")


def test_execution_config_defaults_do_not_count_as_explicit(mock_train_npz, temp_output_dir):
    """A field left at its default on the execution config must not beat a CLI default."""
    ex = PyTorchExecutionConfig(num_workers=2)  # learning_rate left at its default
    payload = create_training_payload(mock_train_npz, temp_output_dir, {"n_groups": 16}, ex,
                                      {"learning_rate": 5e-4})
    assert payload.execution_config.learning_rate == 5e-4
    assert payload.overrides_applied["learning_rate"]["source"] == "cli_default"
    assert payload.execution_config.num_workers == 2
    assert payload.overrides_applied["num_workers"]["source"] == "execution_config"
    assert payload.overrides_applied["early_stop_patience"] == {"value": 100, "source": "pytorch_default"}


def test_field_by_field_mix_of_sources(mock_train_npz, temp_output_dir):
    payload = create_training_payload(
        mock_train_npz, temp_output_dir,
        overrides={"n_groups": 16, "nepochs": 3},
        execution_config=PyTorchExecutionConfig(scheduler="Exponential", accelerator="cpu"),
        cli_defaults={"nepochs": 99, "batch_size": 8, "scheduler": "CosineAnnealing"},
    )
    src = {k: e["source"] for k, e in payload.overrides_applied.items()}
    assert (payload.tf_training_config.nepochs, src["nepochs"]) == (3, "override")
    assert (payload.execution_config.scheduler, src["scheduler"]) == ("Exponential", "execution_config")
    assert not hasattr(payload.pt_training_config, "scheduler")  # one declaration, no copy to disagree
    assert (payload.tf_training_config.batch_size, src["batch_size"]) == (8, "cli_default")
    assert (payload.tf_training_config.neighbor_count, src["neighbor_count"]) == (4, "pytorch_default")
    assert (payload.tf_training_config.seed, src["seed"]) == (42, "canonical_default")
    assert (payload.tf_training_config.model.N, src["N"]) == (64, "data_file")
    assert src["accelerator"] == "execution_config"


def test_data_file_beats_cli_default_but_not_override(mock_train_npz, temp_output_dir):
    p = create_training_payload(mock_train_npz, temp_output_dir, {"n_groups": 8}, cli_defaults={"nphotons": 1e3})
    assert p.overrides_applied["nphotons"] == {"value": 1e6, "source": "data_file"}
    p = create_training_payload(mock_train_npz, temp_output_dir, {"n_groups": 8, "nphotons": 1e4})
    assert p.overrides_applied["nphotons"] == {"value": 1e4, "source": "override"}


def test_nphotons_without_metadata_uses_the_shared_default(npz_factory, temp_output_dir):
    path = npz_factory("plain.npz", n=20)
    p = create_training_payload(path, temp_output_dir, {"n_groups": 8})
    assert p.tf_training_config.nphotons == p.pt_data_config.nphotons == 1e9
    assert p.overrides_applied["nphotons"]["source"] == "pytorch_default"
    p = create_training_payload(path, temp_output_dir, {"n_groups": 8}, cli_defaults={"nphotons": 1e5})
    assert p.overrides_applied["nphotons"] == {"value": 1e5, "source": "cli_default"}


def test_every_resolved_value_is_recorded(mock_train_npz, temp_output_dir):
    from ptycho_engine.config.factory import SOURCES
    from ptycho_engine.config.overrides import training_override_fields

    payload = create_training_payload(mock_train_npz, temp_output_dir, {"n_groups": 8})
    applied = payload.overrides_applied
    for spec in training_override_fields():
        assert spec.name in applied, spec.name
    for name, entry in applied.items():
        assert entry["source"] in SOURCES, name
    # every recorded value is what the configs carry
    tf = payload.tf_training_config
    for name, entry in applied.items():
        for obj in (tf, tf.model, payload.execution_config):
            if hasattr(obj, name) and name not in ("train_data_file", "output_dir", "test_data_file"):
                assert getattr(obj, name) == entry["value"], name

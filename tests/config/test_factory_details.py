"""Factory behaviour beyond the seed: inference from archives, data checks, errors, serialisation."""
from __future__ import annotations

import json

import pytest

from ptycho_engine.config import params
from ptycho_engine.config.execution import PyTorchExecutionConfig
from ptycho_engine.config.factory import (
    archive_config_dict,
    create_inference_payload,
    create_training_payload,
    payload_to_dict,
)
from ptycho_engine.config.schema import ConfigError

pytestmark = pytest.mark.filterwarnings("ignore:accelerator 'auto'")


# ------------------------------------------------------------------ inference
def test_inference_n_groups_none_means_all(mock_checkpoint_dir, mock_test_npz, temp_output_dir):
    p = create_inference_payload(mock_checkpoint_dir, mock_test_npz, temp_output_dir)
    assert p.tf_inference_config.n_groups is None
    assert p.overrides_applied["n_groups"] == {"value": None, "source": "canonical_default"}
    assert temp_output_dir.is_dir()
    assert params.cfg["model_path"] == str(mock_checkpoint_dir / "wts.h5.zip")


def test_inference_takes_geometry_from_archive(archive_factory, npz_factory, temp_output_dir):
    model_dir = archive_factory("m2", {"N": 64, "gridsize": 2, "amp_activation": "swish", "object_big": False},
                                {"neighbor_count": 6, "nphotons": 2e5})
    test = npz_factory("t.npz", n=30)
    p = create_inference_payload(model_dir, test, temp_output_dir,
                                 {"gridsize": 2, "mode": "Unsupervised", "patch_weighting": "uniform"})
    tf = p.tf_inference_config
    assert (tf.model.gridsize, tf.model.amp_activation, tf.model.object_big) == (2, "swish", False)
    assert p.pt_data_config.C == 4 and p.pt_data_config.K == 6
    assert tf.neighbor_count == 6 and tf.stitch_weighting == "uniform"
    src = {k: e["source"] for k, e in p.overrides_applied.items()}
    assert src["gridsize"] == src["amp_activation"] == src["neighbor_count"] == "model_archive"
    assert src["model_type"] == "override"  # the archive lacks it, so the (agreeing) override applies
    assert src["stitch_weighting"] == "override"
    assert p.overrides_applied["nphotons"] == {"value": 2e5, "source": "model_archive"}
    q = create_inference_payload(model_dir, test, temp_output_dir, {"K": 8})
    assert q.tf_inference_config.neighbor_count == 8 and q.overrides_applied["neighbor_count"]["source"] == "override"


@pytest.mark.parametrize("override", [{"gridsize": 1}, {"N": 128}, {"n_filters_scale": 4}, {"object_big": True},
                                      {"grid_size": "1x1"}])
def test_override_contradicting_archive_is_an_error(override, archive_factory, mock_test_npz, temp_output_dir):
    model_dir = archive_factory("m", {"N": 64, "gridsize": 2, "n_filters_scale": 2, "object_big": False})
    with pytest.raises(ConfigError, match="contradicts the model at .*trained with"):
        create_inference_payload(model_dir, mock_test_npz, temp_output_dir, override)


def test_test_data_with_other_N_than_model_is_an_error(archive_factory, npz_factory, temp_output_dir):
    model_dir = archive_factory("m", {"N": 64, "gridsize": 1})
    with pytest.raises(ConfigError, match="128x128 patterns .* trained with N=64"):
        create_inference_payload(model_dir, npz_factory("big.npz", n=4, N=128), temp_output_dir)


def test_inference_paths(tmp_path, mock_checkpoint_dir, mock_test_npz, temp_output_dir):
    p = create_inference_payload(mock_checkpoint_dir / "wts.h5.zip", mock_test_npz, temp_output_dir)
    assert p.tf_inference_config.model_path == mock_checkpoint_dir / "wts.h5.zip"
    with pytest.raises(FileNotFoundError, match="Model directory not found"):
        create_inference_payload(tmp_path / "nowhere", mock_test_npz, temp_output_dir)
    missing = tmp_path / "missing_test.npz"
    with pytest.raises(FileNotFoundError, match="Test data file not found") as info:
        create_inference_payload(mock_checkpoint_dir, missing, temp_output_dir)
    assert str(missing) in str(info.value)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "wts.h5.zip").write_bytes(b"")
    with pytest.raises(ValueError, match="not a valid wts.h5.zip"):
        create_inference_payload(broken, mock_test_npz, temp_output_dir)


def test_inference_rejects_training_settings(mock_checkpoint_dir, mock_test_npz, temp_output_dir):
    with pytest.raises(ConfigError, match="'nepochs' is a training setting"):
        create_inference_payload(mock_checkpoint_dir, mock_test_npz, temp_output_dir, {"nepochs": 3})
    ex = PyTorchExecutionConfig(num_workers=2, learning_rate=1e-2)
    p = create_inference_payload(mock_checkpoint_dir, mock_test_npz, temp_output_dir, None, ex,
                                 {"inference_batch_size": 4})
    assert p.overrides_applied["num_workers"] == {"value": 2, "source": "execution_config"}
    assert p.overrides_applied["inference_batch_size"] == {"value": 4, "source": "cli_default"}
    assert "learning_rate" not in p.overrides_applied


def test_training_archive_round_trip(mock_train_npz, mock_test_npz, tmp_path, archive_factory):
    """What the trainer writes into the archive is what inference reads back."""
    p = create_training_payload(mock_train_npz, tmp_path / "run", {"n_groups": 16, "gridsize": 2, "probe_mask": True})
    cfg = archive_config_dict(p.tf_training_config)
    assert set(cfg) == {"model", "training"} and cfg["model"]["probe_mask"] is True
    archive_factory("run", cfg["model"], cfg["training"])
    q = create_inference_payload(tmp_path / "run", mock_test_npz, tmp_path / "inf")
    assert q.tf_inference_config.model == p.tf_training_config.model
    assert q.pt_data_config.nphotons == p.tf_training_config.nphotons


# ------------------------------------------------------------------ training data checks
def test_n_groups_beyond_positions_is_clamped_with_a_note(npz_factory, temp_output_dir):
    path = npz_factory("small.npz", n=30)
    with pytest.warns(UserWarning, match="exceeds the 30 scan positions"):
        p = create_training_payload(path, temp_output_dir, cli_defaults={"n_groups": 512})
    assert p.tf_training_config.n_groups == p.pt_training_config.n_groups == 30
    assert p.overrides_applied["n_groups"]["source"] == "cli_default"
    assert "exceeds" in p.overrides_applied["n_groups"]["note"]
    q = create_training_payload(path, temp_output_dir, {"n_groups": 100, "gridsize": 2, "enable_oversampling": True})
    assert q.tf_training_config.n_groups == 100


def test_group_larger_than_scan_is_an_error(npz_factory, temp_output_dir):
    with pytest.raises(ConfigError, match="gridsize 3 needs 9 scan positions .* only 5"):
        create_training_payload(npz_factory("tiny.npz", n=5), temp_output_dir, {"n_groups": 5, "gridsize": 3})


def test_legacy_hwn_stack_counts_patterns(npz_factory, temp_output_dir):
    path = npz_factory("legacy.npz", n=80, legacy_hwn=True)
    with pytest.warns(UserWarning, match="exceeds the 80 scan positions"):
        p = create_training_payload(path, temp_output_dir, {"n_groups": 81})
    assert p.tf_training_config.n_groups == 80


def test_probe_size_not_supported_by_the_network(npz_factory, temp_output_dir):
    with pytest.raises(ConfigError, match=r"N: expected one of \[64, 128, 256\], got 32 from the probe of"):
        create_training_payload(npz_factory("n32.npz", n=10, N=32), temp_output_dir, {"n_groups": 4})


def test_missing_probe_is_a_contract_error_at_the_factory(npz_factory, temp_output_dir):
    # issue 11 item 10: the factory checks the data contract (header level) before anything else,
    # instead of falling back to N = 64 and failing only when training reads the data
    from ptycho_engine.data.errors import DataContractError

    path = npz_factory("np.npz", n=10, probe=False)
    with pytest.raises(DataContractError, match="probeGuess") as info:
        create_training_payload(path, temp_output_dir, {"n_groups": 4})
    assert info.value.key == "probeGuess" and info.value.file == str(path)


def test_training_test_file_must_exist(mock_train_npz, tmp_path, temp_output_dir, mock_test_npz, npz_factory):
    with pytest.raises(FileNotFoundError, match="Test data file not found"):
        create_training_payload(mock_train_npz, temp_output_dir, {"n_groups": 4, "test_data_file": tmp_path / "x.npz"})
    p = create_training_payload(mock_train_npz, temp_output_dir, {"n_groups": 4, "test_data_file": str(mock_test_npz)})
    assert p.tf_training_config.test_data_file == p.pt_training_config.test_data_file == mock_test_npz
    other_n = npz_factory("t128.npz", n=4, N=128)
    with pytest.raises(ConfigError, match="128x128 patterns .* trained with N=64"):
        create_training_payload(mock_train_npz, temp_output_dir, {"n_groups": 4, "test_data_file": other_n})


def test_factory_errors_name_the_problem(mock_train_npz, temp_output_dir):
    with pytest.raises(ConfigError, match="unknown override 'nepoch'.*did you mean 'nepochs'"):
        create_training_payload(mock_train_npz, temp_output_dir, {"n_groups": 4, "nepoch": 3})
    with pytest.raises(ConfigError, match="batch_size: expected int"):
        create_training_payload(mock_train_npz, temp_output_dir, {"n_groups": 4, "batch_size": "big"})
    with pytest.raises(ConfigError, match="gridsize: expected a value in"):
        create_training_payload(mock_train_npz, temp_output_dir, {"n_groups": 4, "gridsize": 9})
    with pytest.raises(ConfigError, match="unknown override 'lr_max'"):
        create_training_payload(mock_train_npz, temp_output_dir, {"n_groups": 4}, cli_defaults={"lr_max": 1})
    with pytest.raises(TypeError, match="PyTorchExecutionConfig"):
        create_training_payload(mock_train_npz, temp_output_dir, {"n_groups": 4}, {"learning_rate": 1e-3})
    assert not temp_output_dir.exists()


def test_output_dir_that_cannot_be_created(mock_train_npz, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match=f"output directory {blocker / 'run'} cannot be created"):
        create_training_payload(mock_train_npz, blocker / "run", {"n_groups": 4})


def test_payload_to_dict_is_json_with_provenance(mock_train_npz, mock_checkpoint_dir, mock_test_npz, tmp_path):
    p = create_training_payload(mock_train_npz, tmp_path / "run", {"n_groups": 4, "nepochs": 2})
    d = json.loads(json.dumps(payload_to_dict(p)))
    assert d["kind"] == "training" and d["schema_version"] == 1
    assert d["tf_training_config"]["nepochs"] == 2 and d["tf_training_config"]["model"]["N"] == 64
    assert d["pt_data_config"]["grid_size"] == [1, 1]
    assert d["execution_config"]["accelerator"] == "cpu"
    assert d["overrides_applied"]["nepochs"] == {"value": 2, "source": "override"}
    assert d["overrides_applied"]["accelerator"]["note"] == "'auto' resolved to 'cpu'"
    q = create_inference_payload(mock_checkpoint_dir, mock_test_npz, tmp_path / "inf")
    e = json.loads(json.dumps(payload_to_dict(q)))
    assert e["kind"] == "inference" and e["tf_inference_config"]["model_path"].endswith("wts.h5.zip")
    with pytest.raises(TypeError):
        payload_to_dict({"not": "a payload"})


def test_pytorch_vocabulary_through_the_factory(mock_train_npz, temp_output_dir):
    p = create_training_payload(mock_train_npz, temp_output_dir,
                                {"n_groups": 4, "nll": False, "mae_weight": 1.0, "mode": "Supervised",
                                 "amp_activation": "silu", "max_epochs": "6"})
    tf = p.tf_training_config
    assert (tf.nll_weight, p.pt_training_config.nll) == (0.0, False)
    assert (tf.model.model_type, p.pt_model_config.mode) == ("supervised", "Supervised")
    assert (tf.model.amp_activation, p.pt_model_config.amp_activation) == ("swish", "swish")
    assert tf.nepochs == p.pt_training_config.epochs == 6
    q = create_training_payload(mock_train_npz, temp_output_dir, {"n_groups": 4, "nll_weight": 0.25})
    assert (q.tf_training_config.nll_weight, q.pt_training_config.nll) == (0.25, True)

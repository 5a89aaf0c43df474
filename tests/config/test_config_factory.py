"""The seed's 19 factory cases (ADR-003 phase B2), now asserting real values."""
from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import pytest

from ptycho_engine.config import canonical as can
from ptycho_engine.config import params
from ptycho_engine.config import pytorch as pt
from ptycho_engine.config.execution import PyTorchExecutionConfig
from ptycho_engine.config.factory import (
    InferencePayload,
    TrainingPayload,
    create_inference_payload,
    create_training_payload,
    infer_probe_size,
    populate_legacy_params,
)

pytestmark = pytest.mark.filterwarnings("ignore:accelerator 'auto'")


# ------------------------------------------------------------------ category 1: payload structure
class TestTrainingPayloadStructure:
    def test_training_payload_returns_dataclass(self, mock_train_npz, temp_output_dir):
        payload = create_training_payload(mock_train_npz, temp_output_dir, {"n_groups": 32})
        assert isinstance(payload, TrainingPayload)
        assert dataclasses.is_dataclass(payload)
        assert [f.name for f in dataclasses.fields(payload)] == [
            "tf_training_config", "pt_data_config", "pt_model_config", "pt_training_config",
            "execution_config", "overrides_applied"]

    def test_training_payload_contains_tf_config(self, mock_train_npz, temp_output_dir):
        payload = create_training_payload(mock_train_npz, temp_output_dir, {"n_groups": 32})
        tf = payload.tf_training_config
        assert isinstance(tf, can.TrainingConfig)
        assert isinstance(tf.model, can.ModelConfig)
        assert tf.train_data_file == mock_train_npz
        assert tf.output_dir == temp_output_dir
        assert tf.n_groups == 32
        assert tf.model.N == 64
        assert tf.backend == "pytorch"
        assert tf.nphotons == 1e6  # from the file's _metadata

    def test_training_payload_contains_pytorch_configs(self, mock_train_npz, temp_output_dir):
        payload = create_training_payload(mock_train_npz, temp_output_dir, {"n_groups": 32, "gridsize": 2})
        assert isinstance(payload.pt_data_config, pt.DataConfig)
        assert isinstance(payload.pt_model_config, pt.ModelConfig)
        assert isinstance(payload.pt_training_config, pt.TrainingConfig)
        assert isinstance(payload.execution_config, PyTorchExecutionConfig)
        assert payload.pt_data_config.grid_size == (2, 2)
        assert payload.pt_data_config.C == payload.pt_model_config.C_model == payload.pt_model_config.C_forward == 4
        assert payload.pt_training_config.n_groups == 32
        assert payload.execution_config.accelerator == "cpu"  # 'auto' resolved without CUDA

    def test_training_payload_contains_overrides_dict(self, mock_train_npz, temp_output_dir):
        payload = create_training_payload(mock_train_npz, temp_output_dir, {"n_groups": 32, "nepochs": 3})
        applied = payload.overrides_applied
        assert applied["n_groups"] == {"value": 32, "source": "override"}
        assert applied["nepochs"] == {"value": 3, "source": "override"}
        assert applied["N"] == {"value": 64, "source": "data_file"}
        assert applied["nphotons"] == {"value": 1e6, "source": "data_file"}
        assert applied["batch_size"] == {"value": 16, "source": "pytorch_default"}
        assert applied["mae_weight"] == {"value": 0.0, "source": "canonical_default"}
        assert applied["C"]["value"] == 1


class TestInferencePayloadStructure:
    def test_inference_payload_returns_dataclass(self, mock_checkpoint_dir, mock_test_npz, temp_output_dir):
        payload = create_inference_payload(mock_checkpoint_dir, mock_test_npz, temp_output_dir, {"n_groups": 10})
        assert isinstance(payload, InferencePayload)
        assert [f.name for f in dataclasses.fields(payload)] == [
            "tf_inference_config", "pt_data_config", "pt_inference_config", "execution_config", "overrides_applied"]

    def test_inference_payload_contains_tf_config(self, mock_checkpoint_dir, mock_test_npz, temp_output_dir):
        payload = create_inference_payload(mock_checkpoint_dir, mock_test_npz, temp_output_dir, {"n_groups": 10})
        tf = payload.tf_inference_config
        assert isinstance(tf, can.InferenceConfig)
        assert tf.model_path == mock_checkpoint_dir / "wts.h5.zip"
        assert tf.test_data_file == mock_test_npz
        assert tf.output_dir == temp_output_dir
        assert tf.n_groups == 10
        assert tf.model.N == 64 and tf.model.gridsize == 1
        assert payload.overrides_applied["N"]["source"] == "model_archive"

    def test_inference_payload_contains_pytorch_configs(self, mock_checkpoint_dir, mock_test_npz, temp_output_dir):
        payload = create_inference_payload(mock_checkpoint_dir, mock_test_npz, temp_output_dir,
                                           {"n_groups": 10, "inference_batch_size": 8})
        assert isinstance(payload.pt_data_config, pt.DataConfig)
        assert isinstance(payload.pt_inference_config, pt.InferenceConfig)
        assert isinstance(payload.execution_config, PyTorchExecutionConfig)
        assert payload.pt_data_config.N == 64
        assert payload.pt_data_config.nphotons == 1e7  # the test file has no metadata: the archive's value
        assert payload.pt_inference_config.batch_size == 8
        assert payload.execution_config.inference_batch_size == 8


# ------------------------------------------------------------------ category 2: bridge translation
class TestConfigBridgeTranslation:
    def test_grid_size_tuple_to_gridsize_int(self, mock_train_npz, temp_output_dir):
        payload = create_training_payload(mock_train_npz, temp_output_dir, {"n_groups": 32, "grid_size": (2, 2)})
        assert payload.pt_data_config.grid_size == (2, 2)
        assert payload.tf_training_config.model.gridsize == 2
        assert payload.overrides_applied["gridsize"] == {"value": 2, "source": "override"}

    def test_epochs_to_nepochs_conversion(self, mock_train_npz, temp_output_dir):
        payload = create_training_payload(mock_train_npz, temp_output_dir, {"n_groups": 32, "epochs": 7})
        assert payload.pt_training_config.epochs == 7
        assert payload.tf_training_config.nepochs == 7

    def test_k_to_neighbor_count_conversion(self, mock_train_npz, temp_output_dir):
        payload = create_training_payload(mock_train_npz, temp_output_dir, {"n_groups": 32, "K": 7})
        assert payload.pt_data_config.K == 7
        assert payload.tf_training_config.neighbor_count == 7


# ------------------------------------------------------------------ category 3: params.cfg (CONFIG-001)
class TestLegacyParamsPopulation:
    def test_factory_populates_params_cfg(self, mock_train_npz, temp_output_dir):
        create_training_payload(mock_train_npz, temp_output_dir, {"n_groups": 32, "gridsize": 2, "nepochs": 4})
        assert params.cfg["gridsize"] == 2
        assert params.cfg["N"] == 64
        assert params.cfg["nepochs"] == 4
        assert params.cfg["n_groups"] == 32
        assert params.cfg["nphotons"] == 1e6
        assert params.cfg["object.big"] is True
        assert params.cfg["output_prefix"] == str(temp_output_dir)
        assert params.cfg["train_data_file_path"] == str(mock_train_npz)

    def test_populate_legacy_params_helper(self):
        config = can.TrainingConfig(model=can.ModelConfig(gridsize=3, probe_mask=True), n_groups=9,
                                    train_data_file=Path("/data/x.npz"))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the first population must not warn
            populate_legacy_params(config)
            populate_legacy_params(config)  # the same config again: still no warning
        assert params.cfg["gridsize"] == 3
        assert params.cfg["probe.mask"] is True
        assert params.cfg["train_data_file_path"] == "/data/x.npz"
        with pytest.raises(TypeError, match="TrainingConfig or InferenceConfig"):
            populate_legacy_params({"gridsize": 2})
        other = dataclasses.replace(config, nepochs=5)
        with pytest.warns(UserWarning, match="already populated"):
            populate_legacy_params(other)
        assert params.cfg["nepochs"] == 5
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            populate_legacy_params(config, force=True)
        assert params.cfg["nepochs"] == 50


# ------------------------------------------------------------------ category 4: precedence
class TestOverridePrecedence:
    def test_override_dict_wins_over_defaults(self, mock_train_npz, temp_output_dir):
        payload = create_training_payload(
            mock_train_npz, temp_output_dir,
            {"n_groups": 32, "batch_size": 4, "nphotons": 5e5, "probe_scale": 2.0, "amp_activation": "silu"},
            cli_defaults={"batch_size": 8, "nphotons": 3e3})
        tf = payload.tf_training_config
        assert tf.batch_size == payload.pt_training_config.batch_size == 4
        assert tf.nphotons == payload.pt_data_config.nphotons == 5e5  # beats the file's 1e6 and the CLI's 3e3
        assert tf.model.probe_scale == payload.pt_data_config.probe_scale == 2.0
        assert tf.model.amp_activation == "swish"
        for name in ("batch_size", "nphotons", "probe_scale", "amp_activation"):
            assert payload.overrides_applied[name]["source"] == "override"

    def test_probe_size_override_wins_over_inference(self, mock_train_npz, temp_output_dir):
        with pytest.warns(UserWarning, match="differs from the probe size 64"):
            payload = create_training_payload(mock_train_npz, temp_output_dir, {"n_groups": 32, "N": 128})
        assert payload.tf_training_config.model.N == 128
        assert payload.pt_data_config.N == 128
        assert payload.overrides_applied["N"] == {"value": 128, "source": "override"}


# ------------------------------------------------------------------ category 5: validation errors
class TestFactoryValidation:
    def test_missing_n_groups_raises_error(self, mock_train_npz, temp_output_dir):
        with pytest.raises(ValueError, match="n_groups is required"):
            create_training_payload(mock_train_npz, temp_output_dir, {"nepochs": 2})
        assert not temp_output_dir.exists()  # nothing is created before validation passes

    def test_nonexistent_train_data_file_raises_error(self, tmp_path, temp_output_dir):
        missing = tmp_path / "nope.npz"
        with pytest.raises(FileNotFoundError, match="Training data file not found") as info:
            create_training_payload(missing, temp_output_dir, {"n_groups": 32})
        assert str(missing) in str(info.value)

    def test_missing_checkpoint_raises_error(self, tmp_path, mock_test_npz, temp_output_dir):
        empty_model_dir = tmp_path / "empty_model"
        empty_model_dir.mkdir()
        with pytest.raises(FileNotFoundError, match="Model archive not found") as info:
            create_inference_payload(empty_model_dir, mock_test_npz, temp_output_dir, {"n_groups": 10})
        assert isinstance(info.value, ValueError)  # also a ValueError, as in the reference
        assert str(empty_model_dir / "wts.h5.zip") in str(info.value)


# ------------------------------------------------------------------ category 6: probe size inference
class TestProbeSizeInference:
    def test_infer_probe_size_from_npz(self, npz_factory):
        assert infer_probe_size(npz_factory("a.npz", n=4, N=64)) == 64
        assert infer_probe_size(npz_factory("b.npz", n=4, N=128)) == 128

    def test_infer_probe_size_missing_file_fallback(self, tmp_path, npz_factory):
        with pytest.warns(UserWarning, match="using N=64"):
            assert infer_probe_size(tmp_path / "missing.npz") == 64
        with pytest.warns(UserWarning, match="no 'probeGuess'"):
            assert infer_probe_size(npz_factory("noprobe.npz", n=4, N=128, probe=False)) == 64
        (tmp_path / "junk.npz").write_bytes(b"not a zip")
        with pytest.warns(UserWarning, match="could not be read"):
            assert infer_probe_size(tmp_path / "junk.npz") == 64

"""The ``ptycho-engine`` command line, driven in-process on tiny simulated data."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ptycho_engine import cli
from ptycho_engine.config.overrides import inference_override_fields, training_override_fields
from ptycho_engine.data.contract import load_scan

TINY_TRAIN = ["--nepochs", "1", "--n-groups", "12", "--batch-size", "4", "--n-filters-scale", "1",
              "--validation-fraction", "0.25", "--logger-backend", "none", "--no-enable-checkpointing", "-q"]


@pytest.fixture(scope="module")
def scan_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "scan.npz"
    rc = cli.main(["simulate", "--output", str(path), "--n-positions", "30", "--object-size", "110",
                   "--nphotons", "1e6", "--seed", "3"])
    assert rc == cli.EXIT_OK
    return path


@pytest.fixture(scope="module")
def trained_run(scan_file: Path) -> Path:
    out = scan_file.parent / "run"
    rc = cli.main(["train", "--train-data", str(scan_file), "--output-dir", str(out), *TINY_TRAIN])
    assert rc == cli.EXIT_OK
    return out


def test_simulate_writes_a_valid_deterministic_scan(scan_file: Path, tmp_path: Path) -> None:
    scan = load_scan(scan_file)
    assert scan.n_patterns == 30 and scan.N == 64
    assert scan.object_guess is not None and scan.nphotons == pytest.approx(1e6)
    again = tmp_path / "again.npz"
    assert cli.main(["simulate", "--output", str(again), "--n-positions", "30", "--object-size", "110",
                     "--seed", "3"]) == cli.EXIT_OK
    np.testing.assert_array_equal(load_scan(again).diffraction, scan.diffraction)


@pytest.mark.parametrize("command, fields", [("train", training_override_fields),
                                             ("infer", inference_override_fields)])
def test_every_schema_field_has_a_flag(command: str, fields, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    skipped = {"train_data_file", "test_data_file", "output_dir", "model_path"}
    missing = [s.name for s in fields() if s.name not in skipped and f"--{s.name.replace('_', '-')}" not in text]
    assert missing == []


def test_unknown_setting_suggests_the_closest_name(scan_file: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli.main(["train", "--train-data", str(scan_file), "--output-dir", str(tmp_path / "o"),
                   "--set", "nepoch=3"])
    assert rc == cli.EXIT_USAGE
    assert "nepochs" in capsys.readouterr().err


def test_out_of_bounds_value_is_a_usage_error(scan_file: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli.main(["train", "--train-data", str(scan_file), "--output-dir", str(tmp_path / "o"),
                   "--validation-fraction", "0.9"])
    assert rc == cli.EXIT_USAGE
    assert "validation_fraction" in capsys.readouterr().err


def test_missing_data_file_is_an_input_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.npz"
    rc = cli.main(["train", "--train-data", str(missing), "--output-dir", str(tmp_path / "o")])
    assert rc == cli.EXIT_DATA
    assert str(missing) in capsys.readouterr().err


def test_train_writes_a_run_and_records_where_values_came_from(trained_run: Path) -> None:
    assert (trained_run / "wts.h5.zip").is_file()
    history = json.loads((trained_run / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1]
    provenance = json.loads((trained_run / "config.json").read_text())["overrides_applied"]
    assert provenance["nepochs"]["value"] == 1 and provenance["nepochs"]["source"] == "override"
    assert provenance["N"]["source"] == "data_file"


def test_config_file_and_set_flags_layer_in_order(scan_file: Path, tmp_path: Path) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_text("[training]\nnepochs = 5\nbatch_size = 2\n[model]\nn_filters_scale = 1\n")
    from ptycho_engine import api

    parser = cli.build_parser()
    args = parser.parse_args(["train", "--train-data", str(scan_file), "--output-dir", str(tmp_path / "o"),
                              "--config", str(settings), "--set", "batch_size=8", "--nepochs", "1"])
    overrides = cli.collect_overrides(args, training_override_fields())
    assert overrides["nepochs"] == "1"  # the dedicated flag beats the file
    assert overrides["batch_size"] == "8"  # --set beats the file
    assert overrides["n_filters_scale"] == 1  # the file's value when nothing else says otherwise
    payload = api.create_training_payload(scan_file, tmp_path / "o", overrides, cli_defaults=cli.TRAIN_CLI_DEFAULTS)
    assert payload.tf_training_config.nepochs == 1 and payload.tf_training_config.batch_size == 8
    assert payload.overrides_applied["n_groups"]["source"] == "cli_default"


def test_infer_and_inspect(trained_run: Path, scan_file: Path, tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "recon"
    rc = cli.main(["infer", "--model", str(trained_run), "--test-data", str(scan_file), "--output-dir", str(out), "-q"])
    assert rc == cli.EXIT_OK
    recon = np.load(out / "reconstruction.npz", allow_pickle=False)
    assert np.iscomplexobj(recon["object"]) and np.isfinite(recon["amplitude"]).all()
    metrics = json.loads((out / "metrics.json").read_text())
    assert -1.0 <= metrics["amplitude_ssim"] <= 1.0
    capsys.readouterr()
    assert cli.main(["inspect", str(trained_run)]) == cli.EXIT_OK
    text = capsys.readouterr().out
    assert "model archive" in text and "epochs: 1" in text
    assert cli.main(["inspect", str(scan_file)]) == cli.EXIT_OK
    assert "30 of 64x64" in capsys.readouterr().out
    assert cli.main(["inspect", str(out)]) == cli.EXIT_OK
    shown = capsys.readouterr().out
    for key in ("amplitude_ssim", "phase_ssim", "amplitude_psnr_db", "phase_frc_resolution_px"):
        assert key in shown, shown  # the headline scalars metrics.json really has


def test_corrupt_archive_is_an_input_error(scan_file: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    model_dir = tmp_path / "broken"
    model_dir.mkdir()
    (model_dir / "wts.h5.zip").write_bytes(b"PK\x03\x04 not really a zip")
    rc = cli.main(["infer", "--model", str(model_dir), "--test-data", str(scan_file),
                   "--output-dir", str(tmp_path / "r"), "-q"])
    assert rc == cli.EXIT_DATA
    assert "wts.h5.zip" in capsys.readouterr().err

"""``ptycho-engine``: simulate, train, infer and inspect from a shell.

Every override flag is generated from the config schema (one declaration per field), so the CLI,
the GUI form and the factory always agree. The subcommands call the same functions as the Python
API (:mod:`ptycho_engine.api`).

Exit codes: 0 success, 1 the run failed, 2 bad usage or configuration, 3 bad input data or
model archive, 130 cancelled (Ctrl-C; the last good model is kept), 143 stopped by SIGTERM (the
same clean stop as Ctrl-C).
"""
from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from .config.presets import read_settings_file
from .config.schema import ConfigError, FieldSpec, type_name
from .console import VersionAction, console_warnings
from .events import CancelledError, CancelToken, EpochEnd, Event, LogLine, RunFinished, StepProgress

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DATA, EXIT_CANCELLED = 0, 1, 2, 3, 130
EXIT_TERMINATED = 143  # SIGTERM (128 + 15), like a shell reports it

# Level 3 of the factory's precedence: what the CLI supplies when the user says nothing.
TRAIN_CLI_DEFAULTS: dict[str, Any] = {"n_groups": 512}

EXAMPLES = """\
examples:
  ptycho-engine simulate --output scan.npz --object lines --n-positions 400 --nphotons 1e6
  ptycho-engine train --train-data scan.npz --output-dir runs/lines --nepochs 20 --gridsize 2
  ptycho-engine train --train-data a.npz --train-data b.npz --val-data c.npz --output-dir runs/ab
  ptycho-engine train --train-data scans/ --output-dir runs/all --init-model runs/pretrained
  ptycho-engine pretrain --probe-from scan.npz --output-dir runs/pretrained --n-objects 200 --nepochs 20
  ptycho-engine train --train-data scan.npz --output-dir runs/lines --set learning_rate=5e-4 \\
      --config my_settings.toml
  ptycho-engine infer --model runs/lines --test-data other_scan.npz --output-dir runs/lines-recon
  ptycho-engine inspect scan.npz          (also a wts.h5.zip or a run directory)
  ptycho-engine export --format ptychopinn runs/lines runs/lines-ptychopinn
"""


def _add_schema_flags(parser: argparse.ArgumentParser, fields: Sequence[FieldSpec], skip: set[str],
                      cli_defaults: dict[str, Any] | None = None, title: str | None = None) -> None:
    """One flag per schema field; unset flags stay absent so lower precedence levels apply.

    ``title``: one help section for all these flags (default: a section per schema group).
    """
    groups: dict[str, argparse._ArgumentGroup] = {}
    for spec in fields:
        if spec.name in skip:
            continue
        key = title or spec.group
        group = groups.get(key)
        if group is None:
            group = groups[key] = parser.add_argument_group(title or f"{spec.group} settings")
        dashed = f"--{spec.name.replace('_', '-')}"
        underscored = f"--{spec.name}"
        default = (cli_defaults or {}).get(spec.name, spec.default)
        help_text = f"{spec.help} [default: {default!r}"
        if spec.bounds:
            low, high = spec.bounds
            help_text += f"; range {low if low is not None else '-inf'}..{high if high is not None else 'inf'}"
        help_text = (help_text + "]").replace("%", "%%")
        if spec.base_type is bool:
            kwargs: dict[str, Any] = dict(dest=spec.name, action=argparse.BooleanOptionalAction,
                                          default=argparse.SUPPRESS)
        else:
            metavar = "{" + ",".join(map(str, spec.choices)) + "}" if spec.choices else type_name(spec.type).upper()
            kwargs = dict(dest=spec.name, default=argparse.SUPPRESS, metavar=metavar.replace(" ", "_"))
        group.add_argument(dashed, help=help_text, **kwargs)
        if underscored != dashed:  # the reference's spelling keeps working, without cluttering --help
            group.add_argument(underscored, help=argparse.SUPPRESS, **kwargs)


def _parse_set(items: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def collect_overrides(args: argparse.Namespace, fields: Sequence[FieldSpec]) -> dict[str, Any]:
    """Explicit settings in rising priority: --config file, then --set, then dedicated flags."""
    overrides: dict[str, Any] = {}
    if getattr(args, "config", None):
        overrides.update(read_settings_file(args.config))
    overrides.update(_parse_set(getattr(args, "set", None) or []))
    for spec in fields:
        if hasattr(args, spec.name):
            overrides[spec.name] = getattr(args, spec.name)
    return overrides


class _ConsoleReporter:
    """Turns engine events into a tqdm progress bar and log lines on stderr."""

    def __init__(self, quiet: bool, verbose: bool = False) -> None:
        self.quiet = quiet
        self.verbose = verbose  # debug lines only with --verbose
        self._bar: Any = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, StepProgress) and not self.quiet and sys.stderr.isatty():
            if self._bar is None:
                from tqdm import tqdm

                self._bar = tqdm(total=event.total_steps, unit="step", file=sys.stderr, leave=False)
            self._bar.total = event.total_steps
            self._bar.n = event.step
            self._bar.set_description(f"epoch {event.epoch}" if event.epoch > 0 else "reconstructing")
            self._bar.refresh()
        elif isinstance(event, EpochEnd):
            val = "n/a" if event.val_loss is None else f"{event.val_loss:.5g}"
            self._write(f"epoch {event.epoch}/{event.n_epochs}: train {event.train_loss:.5g}, "
                        f"val {val}, lr {event.learning_rate:.3g}, {event.elapsed_s:.1f} s")
        elif isinstance(event, LogLine):
            if event.level == "DEBUG" and not self.verbose:
                return
            if not self.quiet or event.level in {"WARNING", "ERROR"}:
                self._write(f"{event.level.lower()}: {event.message}")
        elif isinstance(event, RunFinished):
            self.close()
            self._write(f"{event.status}: {event.output_dir} {event.message}".rstrip())

    def _write(self, text: str) -> None:
        if self._bar is not None:
            self._bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class SignalAbort(BaseException):
    """A second SIGINT/SIGTERM, or one before any run started: stop now (exit 130 / 143)."""


class _Signals:
    """SIGINT and SIGTERM for one command: the first one during a run cancels it cleanly (the
    training archive keeps the weights of that moment); a second one, or one before a run has
    started, aborts. ``received`` is the first signal, which sets the exit code (130 / 143)."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.token = CancelToken()
        self.running = False
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.getsignal(sig)
            signal.signal(sig, self._handler)

    def restore(self) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()

    def _handler(self, signum: int, _frame: Any) -> None:
        first = self.received is None
        if first:
            self.received = signum
        if not first or not self.running:
            raise SignalAbort(signum)
        name = "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C"
        print(f"\n{name}: stopping after the current batch (again to abort)...", file=sys.stderr)
        self.token.cancel()


_SIGNALS: _Signals | None = None


def _with_cancel_on_sigint(run: Callable[[CancelToken], Any]) -> Any:
    """Run with a cancel token that the first SIGINT / SIGTERM sets; a second one aborts."""
    signals = _SIGNALS
    own = signals is None
    if own:
        signals = _Signals()
        signals.install()
    assert signals is not None
    signals.running = True
    try:
        return run(signals.token)
    finally:
        signals.running = False
        if own:
            signals.restore()


def _signal_exit(signals: _Signals | None, rc: int) -> int:
    """130 (SIGINT) / 143 (SIGTERM) once a signal stopped the command; ``rc`` otherwise."""
    if signals is None or signals.received is None or rc not in (EXIT_OK, EXIT_CANCELLED):
        return rc
    return EXIT_TERMINATED if signals.received == signal.SIGTERM else EXIT_CANCELLED


def cmd_simulate(args: argparse.Namespace) -> int:
    from .data.contract import save_scan
    from .simulate import simulate_scan

    scan = simulate_scan(
        object_kind=args.object, probe_kind=args.probe, scan_kind=args.scan, N=args.N,
        n_positions=args.n_positions, object_size=args.object_size, nphotons=args.nphotons, seed=args.seed,
    )
    save_scan(Path(args.output), scan)
    print(f"wrote {args.output}: {scan.n_patterns} patterns of {scan.N}x{scan.N}, nphotons {args.nphotons:g}")
    return EXIT_OK


def cmd_train(args: argparse.Namespace) -> int:
    from . import api
    from .config.overrides import training_override_fields

    overrides = collect_overrides(args, training_override_fields())
    if args.test_data:
        overrides["test_data_file"] = args.test_data
    if args.val_data:
        overrides["validation_data_file"] = args.val_data
    payload = api.create_training_payload(args.train_data, args.output_dir, overrides,
                                          cli_defaults=TRAIN_CLI_DEFAULTS)
    return _train_with_console(args, lambda on_event, token: api.train(payload, on_event=on_event, cancel=token))


def _train_with_console(args: argparse.Namespace, run: Any) -> int:
    """``run(on_event, cancel_token)`` with the console reporter and Ctrl-C / SIGTERM as a clean
    cancel; prints the archive written and maps a cancelled run to its exit code."""
    reporter = _ConsoleReporter(args.quiet, args.verbose)
    try:
        result = _with_cancel_on_sigint(lambda token: run(reporter, token))
    finally:
        reporter.close()
    print(f"model: {result.archive_path}")
    return EXIT_CANCELLED if result.status == "cancelled" else EXIT_OK


#: training settings that do not apply to pretraining (the stream has groups_per_object instead)
PRETRAIN_SKIP = {"n_groups"}


def cmd_pretrain(args: argparse.Namespace) -> int:
    from . import api
    from .config.overrides import training_override_fields
    from .config.synthetic import synthetic_fields

    training_fields = [f for f in training_override_fields() if f.name not in PRETRAIN_SKIP]
    synthetic_names = {f.name for f in synthetic_fields()}
    settings = collect_overrides(args, training_fields + synthetic_fields())
    synthetic = {k: v for k, v in settings.items() if k in synthetic_names}
    overrides = {k: v for k, v in settings.items() if k not in synthetic_names}
    if args.val_data:
        overrides["validation_data_file"] = args.val_data
    payload = api.create_pretraining_payload(args.probe_from, args.output_dir, overrides, synthetic)
    return _train_with_console(args, lambda on_event, token: api.pretrain(payload, on_event=on_event, cancel=token))


def cmd_infer(args: argparse.Namespace) -> int:
    from . import api
    from .config.overrides import inference_override_fields

    overrides = collect_overrides(args, inference_override_fields())
    payload = api.create_inference_payload(args.model, args.test_data, args.output_dir, overrides)
    reporter = _ConsoleReporter(args.quiet, args.verbose)
    try:
        result = _with_cancel_on_sigint(lambda token: api.infer(payload, on_event=reporter, cancel=token))
    finally:
        reporter.close()
    for name, path in sorted(result.files.items()):
        print(f"{name}: {path}")
    if result.metrics:
        summary = {k: v for k, v in result.metrics.items() if isinstance(v, (int, float, str))}
        print(json.dumps(summary, indent=2))
    return EXIT_OK


def cmd_inspect(args: argparse.Namespace) -> int:
    from .inspect_target import describe

    print(describe(Path(args.target)))
    return EXIT_OK


def cmd_convert(args: argparse.Namespace) -> int:
    from .tf_backend.archive_convert import convert_archive

    path = convert_archive(args.model, args.output, args.to, keras_weights=args.keras_weights)
    print(f"wrote {path} (backend {args.to})")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    from .config.overrides import inference_override_fields, training_override_fields

    parser = argparse.ArgumentParser(
        prog="ptycho-engine",
        description="Physics-informed neural-network ptychographic reconstruction, headless.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show debug log lines, and Python warnings with their source lines")
    parser.add_argument("--version", action=VersionAction,
                        help="print the versions of this package, torch, Lightning, TensorFlow and CUDA, then exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{simulate,train,pretrain,infer,inspect,convert-hdf5,export,convert}")

    sim = sub.add_parser("simulate", help="write a simulated scan (contract NPZ with ground truth)",
                         formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    sim.add_argument("--output", "-o", required=True, help="NPZ file to write")
    sim.add_argument("--object", default="lines", choices=["lines", "grf", "cells"], help="object kind")
    sim.add_argument("--probe", default="disk", choices=["disk", "focused"], help="probe kind")
    sim.add_argument("--scan", default="fermat", choices=["raster", "random", "fermat"], help="scan pattern")
    sim.add_argument("--N", type=int, default=64, choices=[64, 128, 256], help="diffraction pattern size (pixels)")
    sim.add_argument("--n-positions", type=int, default=400, help="number of scan positions")
    sim.add_argument("--object-size", type=int, default=None, help="object side in pixels (default: fits the scan)")
    sim.add_argument("--nphotons", type=float, default=1e6, help="mean photon count per pattern (Poisson noise)")
    sim.add_argument("--seed", type=int, default=0, help="random seed (same seed, same file)")
    sim.set_defaults(func=cmd_simulate)

    common_skip = {"train_data_file", "test_data_file", "output_dir", "model_path", "validation_data_file"}
    train = sub.add_parser("train", help="train a model on one or more scans", epilog=EXAMPLES,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_argument("--train-data", "--train_data_file", dest="train_data", required=True, action="append",
                       metavar="NPZ_OR_FOLDER",
                       help="training scan (NPZ, ptychodus folder or product .h5 with raw_data); repeat for several "
                            "scans, or give a folder (all *.npz in it)")
    train.add_argument("--test-data", "--test_data_file", dest="test_data", default=None, help="optional held-out scan (NPZ)")
    _add_val_flag(train)
    train.add_argument("--output-dir", "--output_dir", dest="output_dir", required=True, help="run directory to write")
    _add_io_flags(train)
    _add_schema_flags(train, training_override_fields(), common_skip, TRAIN_CLI_DEFAULTS)
    train.set_defaults(func=cmd_train)

    from .config.synthetic import synthetic_fields

    pre = sub.add_parser("pretrain", help="pretrain on synthetic objects simulated through a scan's probe",
                         epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    pre.add_argument("--probe-from", dest="probe_from", required=True, metavar="SCAN.npz",
                     help="scan whose probe, pattern size N, photon count and scan step the simulation uses")
    _add_val_flag(pre)
    pre.add_argument("--output-dir", "--output_dir", dest="output_dir", required=True, help="run directory to write")
    _add_io_flags(pre)
    _add_schema_flags(pre, synthetic_fields(), set(), title="synthetic data")
    _add_schema_flags(pre, training_override_fields(), common_skip | PRETRAIN_SKIP)
    pre.set_defaults(func=cmd_pretrain)

    infer = sub.add_parser("infer", help="reconstruct a scan with a trained model", epilog=EXAMPLES,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    infer.add_argument("--model", "--model_path", dest="model", required=True, help="run directory holding wts.h5.zip")
    infer.add_argument("--test-data", "--test_data_file", dest="test_data", required=True, help="scan to reconstruct (NPZ)")
    infer.add_argument("--output-dir", "--output_dir", dest="output_dir", required=True, help="directory to write")
    _add_io_flags(infer)
    _add_schema_flags(infer, inference_override_fields(), common_skip)
    infer.set_defaults(func=cmd_infer)

    insp = sub.add_parser("inspect", help="describe a scan (NPZ, ptychodus folder or product .h5), a wts.h5.zip "
                          "or a run directory")
    insp.add_argument("target", help="file or directory")
    insp.set_defaults(func=cmd_inspect)

    conv = sub.add_parser("convert", help="rewrite a model archive for the other backend (pytorch <-> tensorflow)")
    conv.add_argument("--model", "--model_path", dest="model", required=True, help="run directory or wts.h5.zip")
    conv.add_argument("--to", required=True, choices=["pytorch", "tensorflow"], help="backend to record")
    conv.add_argument("--output", "-o", required=True, help="archive to write (a folder gets wts.h5.zip)")
    conv.add_argument("--keras-weights", default=None, metavar="FILE.weights.h5",
                      help="also write the Keras network weights (needs TensorFlow)")
    conv.set_defaults(func=cmd_convert)

    from .io.convert_cli import add_convert_parser

    add_convert_parser(sub)
    from .io.export_cli import add_export_parser

    add_export_parser(sub)
    return parser


def _add_val_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--val-data", "--validation-data-file", "--validation_data_file", dest="val_data",
                        default=None, metavar="NPZ",
                        help="scan (NPZ) for the validation loss instead of a split of the training groups")


def _add_io_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", default=[],
                        help="set any field by name (repeatable); same names as the flags")
    parser.add_argument("--config", metavar="FILE.toml", help="read settings from a TOML file (flags win)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar, warnings only")
    parser.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="show debug log lines, and Python warnings with their source lines")


def main(argv: Sequence[str] | None = None) -> int:
    global _SIGNALS
    import threading

    if _SIGNALS is not None or threading.current_thread() is not threading.main_thread():
        return _main(argv)
    _SIGNALS = _Signals()  # as early as possible: a SIGTERM while starting up is handled too
    _SIGNALS.install()
    try:
        try:
            rc = _main(argv)
        except SignalAbort:
            print("aborted", file=sys.stderr)
            rc = EXIT_CANCELLED
        return _signal_exit(_SIGNALS, rc)
    finally:
        _SIGNALS.restore()
        _SIGNALS = None


def _main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    from .archive import ArchiveError
    from .data.contract import DataContractError

    try:
        with console_warnings(args.verbose):
            return int(args.func(args))
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (DataContractError, ArchiveError, FileNotFoundError) as exc:
        print(f"input error: {exc}", file=sys.stderr)
        return EXIT_DATA
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except CancelledError:
        print("cancelled: nothing was written for the unfinished run", file=sys.stderr)
        return EXIT_CANCELLED
    except (KeyboardInterrupt, SignalAbort):
        print("aborted", file=sys.stderr)
        return EXIT_CANCELLED
    except Exception as exc:  # noqa: BLE001 - the last line of defence must name the failure
        print(f"failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        if args.verbose:
            raise
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

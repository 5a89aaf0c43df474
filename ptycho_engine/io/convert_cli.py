"""``ptycho-engine convert-hdf5``: a beamline HDF5 stack -> a contract NPZ, and its flags.

Why a command rather than flags on train/infer: a plain detector stack needs information the file
does not hold (positions, a probe, where to crop), the same for every later use. Converting once
gives one file that ``train``, ``infer``, ``inspect`` and the app's scan picker all open, can be
checked with ``inspect`` before a long run, and is read chunk by chunk however large the stack.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .hdf5_stack import DEFAULT_DATA_PATHS, POSITION_UNITS

__all__ = ["add_convert_parser"]

GEOMETRY_FLAGS = {  # flag -> geometry key (data.geometry)
    "object_pixel_size": "object_pixel_size_m",
    "energy": "probe_energy_eV",
    "detector_distance": "detector_distance_m",
    "detector_pixel_size": "detector_pixel_size_m",
    "exposure_time": "exposure_time_s",
}


def _center(text: str) -> tuple[float, float]:
    try:
        row, col = (float(v) for v in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected ROW,COLUMN (two numbers), got {text!r}") from exc
    return row, col


def cmd_convert_hdf5(args: argparse.Namespace) -> int:
    from ..api import convert_hdf5
    from ..data.contract import load_scan

    geometry = {key: getattr(args, flag) for flag, key in GEOMETRY_FLAGS.items() if getattr(args, flag) is not None}
    out = convert_hdf5(Path(args.stack), Path(args.output), args.positions, data_path=args.data_path,
                       positions_unit=args.positions_unit, probe=args.probe, crop=args.crop, center=args.center,
                       bad_pixels=args.bad_pixels, saturation=args.saturation, geometry=geometry)
    summary = load_scan(out).summary()
    print(f"wrote {out}: {summary.n_patterns} patterns of {summary.N}x{summary.N}, {summary.n_bad_pixels} bad "
          f"pixels masked, nphotons {summary.nphotons if summary.nphotons is not None else 'unknown'}")
    return 0


def add_convert_parser(sub: Any) -> None:
    """Register ``convert-hdf5`` on the CLI's subparsers."""
    p = sub.add_parser("convert-hdf5", help="convert a beamline HDF5 diffraction stack into a scan NPZ",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                       description=__doc__.split("\n\n")[1])
    p.add_argument("stack", help="HDF5 file with an (n, H, W) stack of photon counts")
    p.add_argument("--output", "-o", required=True, help="scan NPZ to write")
    p.add_argument("--positions", required=True, metavar="FILE[:/DATASET]",
                   help="scan positions: FILE.h5:/dataset ((n, 2) x, y), FILE.h5:/x,/y, :/dataset in the stack's "
                        "file, an .npy (n, 2), an .npz with xcoords/ycoords, or a text file of two columns x y")
    p.add_argument("--positions-unit", choices=list(POSITION_UNITS), default="px",
                   help="unit of the positions; a length needs the object pixel size (or energy, detector distance "
                        "and detector pixel size)")
    p.add_argument("--data-path", default=None, help=f"dataset of the stack (default: the first of {DEFAULT_DATA_PATHS})")
    p.add_argument("--probe", default=None, metavar="FILE[:/DATASET]",
                   help="complex N x N probe (.npy, .npz probeGuess, HDF5 dataset); default: estimated from the mean "
                        "pattern")
    p.add_argument("--crop", type=int, default=None, metavar="N",
                   help="crop each pattern to N x N around the centre (default: the probe's size, else 128)")
    p.add_argument("--center", type=_center, default=None, metavar="ROW,COL",
                   help="pattern centre on the detector (default: estimated from the mean pattern)")
    p.add_argument("--bad-pixels", default=None, metavar="FILE[:/DATASET]", help="(H, W) mask, True/1 = bad pixel")
    p.add_argument("--saturation", type=float, default=None, metavar="COUNTS",
                   help="mask pixels that reach this count in any frame")
    p.add_argument("--object-pixel-size", type=float, default=None, metavar="M", help="object pixel size (m)")
    p.add_argument("--energy", type=float, default=None, metavar="EV", help="photon energy (eV)")
    p.add_argument("--detector-distance", type=float, default=None, metavar="M", help="sample-detector distance (m)")
    p.add_argument("--detector-pixel-size", type=float, default=None, metavar="M", help="detector pixel pitch (m)")
    p.add_argument("--exposure-time", type=float, default=None, metavar="S", help="exposure per pattern (s)")
    p.set_defaults(func=cmd_convert_hdf5)

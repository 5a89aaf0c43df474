"""``ptycho-engine export --format ptychopinn MODEL_DIR OUT``: write a model in another implementation's format.

Kept beside the writer (:mod:`.reference_export`) so cli.py only registers it. A model the
format cannot represent is refused (exit 3, nothing written).
"""
from __future__ import annotations

import argparse
from typing import Any

FORMATS = ("ptychopinn",)


def add_export_parser(sub: Any) -> None:
    p = sub.add_parser("export", help="write a trained model in the PtychoPINN (reference, TensorFlow) archive format",
                       description="Write MODEL_DIR's model (a run folder or a wts.h5.zip) as a PtychoPINN "
                                   "wts.h5.zip that its ModelManager.load_multiple_models (and the ptychodus "
                                   "PtychoPINN plugin) reads. Only the 'cnn' generator can be exported.")
    p.add_argument("--format", choices=FORMATS, required=True, help="archive format to write")
    p.add_argument("model_dir", metavar="MODEL_DIR", help="run folder holding wts.h5.zip, or the archive itself")
    p.add_argument("output", metavar="OUT", help="a .zip file to write, or a folder that gets wts.h5.zip")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from ..api import export_model

    target = export_model(args.model_dir, args.output, format=args.format)
    print(f"exported: {target}")
    return 0

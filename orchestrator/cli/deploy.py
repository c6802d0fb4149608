"""The deployment subcommands: `jdnas export` and `jdnas lut bundle|import` (see docs/deploy.md).

  jdnas export --run-id RUN_ID [--int8]               a finished trial as a checked ONNX model
  jdnas export SWEEP --trial TRIAL_ID [--preset quick] [--int8]
  jdnas lut bundle OUT_DIR [--size 32 --channels 1 --classes 10 --width-mult 0.25]
  python3 OUT_DIR/probe.py OUT_DIR --device-name NAME  (on the device: numpy + onnxruntime only)
  jdnas lut import OUT_DIR OUT_DIR/probe-NAME.json    then: jdnas run nas-beta --set lut_device=NAME
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from orchestrator.cli.arguments import add_location_args


def cmd_export(args: argparse.Namespace) -> int:
    from orchestrator.tracking.export import describe, run_export  # lazy: torch, onnx, MLflow
    from orchestrator.records.locations import tracking_uri_for  # lazy: pyarrow (~0.1 s)

    workdir = Path(args.workdir).resolve()
    experiment = None
    if not args.run_id:
        if not (args.sweep and args.trial):
            print("jdnas export: give --run-id RUN_ID, or SWEEP --trial TRIAL_ID", file=sys.stderr)
            return 2
        from orchestrator.cli.user_sweeps import resolve_args  # lazy, as every trainables import here: torch (~1 s) stays off --help

        experiment = resolve_args(args).name
    out_root = Path(args.out).resolve() if args.out else workdir / "exports"
    out_dir, summary = run_export(tracking_uri_for(args.tracking_uri, workdir), out_root, args.run_id, experiment,
                                  args.trial, args.int8, args.calibration_images)
    print(describe(out_dir, summary))
    return 0


def _macro(args: argparse.Namespace):
    from trainables.nas.macro import Macro  # lazy: torch

    return Macro.build((args.channels, args.size, args.size), args.classes, args.width_mult,
                       decoder=args.search_kind == "joint")


def cmd_lut_bundle(args: argparse.Namespace) -> int:
    from trainables.nas.lut_bundle import write_bundle  # lazy: torch, onnx

    manifest = write_bundle(_macro(args), args.out, args.batch, args.threads)
    count = len(json.loads(manifest.read_text())["files"])
    print(f"wrote {count} ONNX files, {manifest} and {Path(args.out) / 'probe.py'}\n"
          f"on the device (Python >= 3.9 with numpy + onnxruntime): python3 probe.py BUNDLE_DIR --device-name NAME\n"
          f"back here: jdnas lut import {args.out} PROBE_JSON")
    return 0


def cmd_lut_import(args: argparse.Namespace) -> int:
    from trainables.nas.lut_bundle import import_probe  # lazy: torch, onnx

    key, path = import_probe(args.bundle, args.table, args.cache_dir)
    print(f"imported the latency table of {key.device_name} ({key.describe()}) into {path}\n"
          f"search for it: jdnas run SWEEP --set lut_device={key.device_name}")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("export", help="a finished trial as an ONNX model (checked against PyTorch; --int8)")
    p.add_argument("sweep", nargs="?", help="sweep name (with --trial), as for `jdnas run`")
    p.add_argument("--run-id", help="MLflow run id of the trial")
    p.add_argument("--trial", help="Tune trial id within SWEEP")
    p.add_argument("--preset", default="quick")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="the sweep's --set (finds its experiment)")
    p.add_argument("--name", help="experiment name, when the sweep ran with --name")
    p.add_argument("--int8", action="store_true", help="also write an INT8 model (static, calibrated on val images)")
    p.add_argument("--calibration-images", type=int, default=128)
    p.add_argument("--out", help="folder for <run id>/model.onnx (default WORKDIR/exports)")
    add_location_args(p)
    p.set_defaults(func=cmd_export)

    lut = sub.add_parser("lut", help="latency tables measured on a target device").add_subparsers(
        dest="lut_command", required=True)
    p = lut.add_parser("bundle", help="candidate blocks, fixed parts and the probe script for a device")
    p.add_argument("out", help="folder to write")
    p.add_argument("--size", type=int, default=32, help="input height/width (quick preset: 32)")
    p.add_argument("--channels", type=int, default=1, help="input channels (Fashion-MNIST: 1)")
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--width-mult", type=float, default=0.25, help="the sweep's width_mult (quick preset: 0.25)")
    p.add_argument("--search-kind", choices=("joint", "classifier"), default="joint",
                   help="the sweep's search_kind: the classifier-only search has no decoder")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(func=cmd_lut_bundle)
    p = lut.add_parser("import", help="check a probe's JSON against its bundle and cache it under its device")
    p.add_argument("bundle", help="the bundle folder the probe timed")
    p.add_argument("table", help="the probe's JSON")
    p.add_argument("--cache-dir", help="LUT cache (default $JDNAS_LUT_CACHE or ~/.cache/jdnas/lut)")
    p.set_defaults(func=cmd_lut_import)

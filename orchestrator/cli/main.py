"""jdnas: run the paper's sweeps on Ray Tune, track them in MLflow, rebuild the paper's tables.

  jdnas list                                 sweeps and presets
  jdnas run SWEEP [--preset quick] [--set key=value ...]
  jdnas plan SWEEP [--preset quick] [--gpus N | --cpus N]   trials, measured rates, time and packing
  jdnas report SWEEP [--preset quick]        tables + Pareto plots from the sweep's Parquet
  jdnas ui [SWEEP]                           MLflow UI on the store in use (prints the sweep's address)
  jdnas best SWEEP [--cost latency|flops]    register the Pareto-best trials in the MLflow Model Registry
  jdnas models [--json]                      FLOPs of the paper's models beside the paper's
  jdnas export --run-id ID [--int8]          a trial as a checked ONNX model (docs/deploy.md)
  jdnas lut bundle|import                    latency tables measured on a target device
  jdnas data list | download NAME [--dir D]  find and fetch the datasets
  jdnas slurm SWEEP [--nodes N] [--dry-run]   the sweep as a SLURM batch job (Ray across its nodes)
"""
from __future__ import annotations

import argparse
import signal
import sys

from orchestrator.cli import clusters, data, deploy, servers, slurm, sweeps
from orchestrator.exits import (EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED, BadInput,
                                InternalError, save_traceback, stop_on_sigterm_like_ctrl_c)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jdnas", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for commands in (sweeps, clusters, servers, deploy, data, slurm):  # `jdnas --help` lists them in this order
        commands.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `jdnas models --json | head` ends quietly
    stop_on_sigterm_like_ctrl_c()
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("jdnas: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:  # one line for bad input; other errors name the log that holds their traceback
        from search_spaces import SweepError  # lazy: torch, only on an error
        from trainables.data import DatasetNotFound  # lazy: torch, only on an error

        # a ValueError counts as bad input only before the run started; after, the runner raises InternalError
        if not isinstance(err, InternalError) and isinstance(
                err, (BadInput, SweepError, DatasetNotFound, ConnectionError, ValueError)):
            print(f"jdnas: error: {err}", file=sys.stderr)
            return EXIT_BAD_INPUT
        path = save_traceback(err, getattr(args, "workdir", "."))
        print(f"jdnas: internal error: {type(err).__name__}: {str(err)[:500]} (traceback: {path})", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())

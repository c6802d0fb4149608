"""`jdnas` command line."""
from __future__ import annotations

import argparse
import json
import signal
import sys


def cmd_models(args: argparse.Namespace) -> int:
    from trainables.models.catalog import flop_table, format_flop_table

    shape = (args.channels, args.size, args.size)
    rows = flop_table(shape)
    print(json.dumps(rows, indent=1) if args.json else format_flop_table(rows, shape))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jdnas", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("models", help="FLOP table of the paper's models beside the paper's numbers")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.add_argument("--size", type=int, default=96, help="input height and width (default 96)")
    p.add_argument("--channels", type=int, default=3)
    p.set_defaults(func=cmd_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `jdnas models --json | head` ends quietly
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

"""Wall time of `jdnas --help` and `jdnas list` (fresh interpreters), beside a bare `python -c pass` on the
same machine, so the CLI's own start-up is visible apart from Python's. Prints medians and a JSON line.
Targets: --help under 0.1 s (no torch, Ray, MLflow or pyarrow on its path), list under 2 s (it loads torch to
resolve every sweep).

    python benchmarks/cli_startup.py [--repeats 5]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

COMMANDS = {"python": [sys.executable, "-c", "pass"],
            "help": [sys.executable, "-m", "orchestrator.cli.main", "--help"],
            "list": [sys.executable, "-m", "orchestrator.cli.main", "list"]}


def wall_s(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    medians = {name: statistics.median(wall_s(argv) for _ in range(args.repeats)) for name, argv in COMMANDS.items()}
    for name, seconds in medians.items():
        print(f"{name:<7}{seconds:8.3f} s")
    print(json.dumps({"benchmark": "cli_startup", "repeats": args.repeats,
                      **{f"{name}_s": round(s, 4) for name, s in medians.items()},
                      "help_over_python": round(medians["help"] / medians["python"], 2)}))


if __name__ == "__main__":
    main()

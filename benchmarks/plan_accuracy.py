"""How well `jdnas plan` prices a sweep: the plan's estimated wall time, then the sweep itself run through
jdnas on a local Ray in a fresh folder, timed end to end. Prints a JSON line with
ratio = actual / estimated wall (target 0.8-1.25). Take the number on a quiet machine: the plan measures
rates at one moment, and other load during the run moves only the actual side.

    python benchmarks/plan_accuracy.py [--sweep classifier-scaling] [--preset quick] [--set key=value ...]
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

from orchestrator.run.plan import format_plan, make_plan
from orchestrator.run.sweep import RunOptions, run_sweep
from search_spaces import get_sweep, parse_override, resolve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweep", default="classifier-scaling")
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    overrides = dict(parse_override(item) for item in args.set)
    sweep = get_sweep(args.sweep)
    resolved = resolve(sweep, args.preset, overrides)
    plan = make_plan(resolved)
    print(format_plan(plan), flush=True)
    with tempfile.TemporaryDirectory(prefix="jdnas-plan-") as workdir:
        t0 = time.perf_counter()
        outcome = run_sweep(sweep, args.preset, overrides, RunOptions(workdir=workdir))
        actual = time.perf_counter() - t0
    assert outcome.complete, "the sweep did not finish"
    print(json.dumps(dict(benchmark="plan_accuracy", sweep=args.sweep, preset=args.preset, overrides=overrides,
                          trials=plan.trials, cpus=os.cpu_count(), device=plan.device_name,
                          estimated_wall_s=round(plan.wall_s, 1), actual_wall_s=round(actual, 1),
                          ratio=round(actual / plan.wall_s, 3), target="0.8-1.25")))


if __name__ == "__main__":
    main()

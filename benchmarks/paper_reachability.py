"""Is the paper preset's NAS latency target (6 / 7.10 x the UNet, timed at batch 32 on the trial's GPU)
reachable on this machine's GPU? The same check `jdnas plan` and `jdnas run` make before a NAS sweep starts
(orchestrator/run/reachability.py), Ray-free because a bare GPU box may lack Ray and MLflow.

Only the input's shape and the class count enter the check, so the paper's STL-10 is replaced by synthetic
images of the same 3x96x96 shape (a GPU box often has no STL-10).

    python3 benchmarks/paper_reachability.py [--sweeps nas-beta,nas-beta-joint] [--cache-dir DIR]

Prints the check's line per setting (or the refusal with the nearest reachable ratio) and one JSON line.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from orchestrator.run.reachability import check_targets  # noqa: E402
from search_spaces import SweepError, get_sweep, resolve  # noqa: E402
from trainables.config import data_key  # noqa: E402
from trainables.data.splits import splits_for_config  # noqa: E402
from trainables.measure.latency import device_name  # noqa: E402

SHAPE_ONLY = dict(dataset="synthetic", train_size=64, val_size=32, test_size=32, seeds=1)


def check(sweep: str, cache_dir: str | None) -> dict:
    overrides = {**SHAPE_ONLY, **({"lut_cache_dir": cache_dir} if cache_dir else {})}
    resolved = resolve(get_sweep(sweep), "paper", overrides)
    data = {data_key(c): splits_for_config(c) for c in resolved.trial_configs}
    started = time.perf_counter()
    try:
        lines, verdict = check_targets(resolved, data), "reachable"
    except SweepError as refused:
        lines, verdict = [str(refused)], "unreachable"
    for line in lines:
        print(line, flush=True)
    return dict(sweep=sweep, verdict=verdict, lines=lines, seconds=round(time.perf_counter() - started, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweeps", default="nas-beta,nas-beta-joint")
    parser.add_argument("--cache-dir", help="latency-table cache (default: the trials' own)")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("no CUDA device here: the paper preset's trials run on a GPU")
    results = [check(name, args.cache_dir) for name in args.sweeps.split(",")]
    print(json.dumps(dict(benchmark="paper_reachability", device=device_name("cuda"), torch=torch.__version__,
                          results=results)))


if __name__ == "__main__":
    main()

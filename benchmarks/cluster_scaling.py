"""The same 8-trial sweep on a 1-node and on a 2-node Ray cluster on this machine, with the same
total CPUs (real `ray start` nodes, see orchestrator.cluster.local). Prints both wall times and a JSON
line with ratio = wall(2 nodes) / wall(1 node); target <= 1.10 (the second node costs little).

    python benchmarks/cluster_scaling.py [--cpus 2]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from orchestrator.cluster.local import LocalCluster
from orchestrator.cluster.ray_auth import use_token_auth
from orchestrator.run.sweep import RunOptions, run_sweep

# 4 classifiers x 2 seeds, quick preset data, shortened so the benchmark takes minutes
OVERRIDES = {"classifier": ["Conv-L", "MB2.5-M", "Conv-S", "MB4-S"], "seeds": 2, "epochs": 2, "train_size": 4000,
             "cpus_per_trial": 1}  # one trial per CPU on both clusters


def timed_sweep(nodes: int, cpus_per_node: int, root: Path) -> float:
    with LocalCluster(root / f"cluster{nodes}", nodes=nodes, cpus_per_node=cpus_per_node) as cluster:
        t0 = time.perf_counter()
        outcome = run_sweep("classifier-scaling", "quick", OVERRIDES,
                            RunOptions(address=cluster.address, workdir=root / f"run{nodes}", verbose=0))
        seconds = time.perf_counter() - t0
    assert outcome.complete and len(outcome.rows) == 8, "the sweep did not finish"
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cpus", type=int, default=2, help="total CPUs, split over the nodes")
    args = parser.parse_args()
    use_token_auth()  # one token for both clusters and this driver (Ray caches the first it reads)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        one = timed_sweep(1, args.cpus, root)
        two = timed_sweep(2, args.cpus // 2, root)
    print(f"8 trials, {args.cpus} CPUs in total")
    print(f"  1 node  x {args.cpus} CPUs: {one:7.1f} s")
    print(f"  2 nodes x {args.cpus // 2} CPUs: {two:7.1f} s")
    print(json.dumps({"benchmark": "cluster_scaling", "ratio": round(two / one, 4), "one_node_s": round(one, 1),
                      "two_nodes_s": round(two, 1), "total_cpus": args.cpus, "target": "<= 1.10"}))


if __name__ == "__main__":
    main()

"""Searchers compared on a tabular benchmark: the real classifier-grid run, replayed.

    python benchmarks/searcher_replay.py                      # replay the stored table (benchmarks/data/)
    python benchmarks/searcher_replay.py --optuna-defaults    # the same with Optuna's default sampler settings
    python benchmarks/searcher_replay.py --export results/classifier-grid-quick/results.parquet --wall-s S

Every grid point of the `classifier-search` space was trained and timed once (`jdnas run classifier-grid`);
`--export` keeps those rows as benchmarks/data/classifier_grid.json. The replay asks each searcher (random,
grid order, TPE, NSGA-II, GP; the sweep's own sampler factory and space) for a configuration and answers from
the table, 20 repetitions each (seeds 0..19), and records the hypervolume of the front found so far (the
sweep's objectives and reference point) after 1/10, 1/4, 1/3 and 1/2 of the grid's size. A searcher may ask
for a point it asked before: that costs a trial, as it would in a real sweep. Ends with one JSON line.
"""
from __future__ import annotations

import argparse
import itertools
import json
import logging
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import optuna
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestrator.pareto.hypervolume import hypervolume, to_minimised  # noqa: E402
from orchestrator.run.optuna_search import make_sampler, optuna_space  # noqa: E402
from search_spaces.architecture import CLASSIFIER_SEARCH  # noqa: E402

TABLE = Path(__file__).resolve().parent / "data" / "classifier_grid.json"
FRACTIONS = {"tenth": 1 / 10, "quarter": 1 / 4, "third": 1 / 3, "half": 1 / 2}
SEARCHERS = ("random", "grid", "tpe", "nsga2", "gp")
KEEP = ("variant_label", "val_acc", "test_acc", "latency_ms", "latency_iqr_ms", "macs", "params", "latency_device",
        "latency_backend", "image_shape", "epochs", "train_size", "trial_started_at", "reported_at")


def export(parquet: Path, wall_s: float | None, out: Path = TABLE) -> None:
    """The grid run's finished rows, reduced to the space's parameters and the objectives, as JSON."""
    import pyarrow.parquet as pq

    optimize = CLASSIFIER_SEARCH.optimize
    rows = [r for r in pq.read_table(parquet).to_pylist() if r["status"] == "TERMINATED"]
    kept = [{k: r.get(k) for k in (*optimize.params, *KEEP)} for r in rows]
    started = min(r["trial_started_at"] for r in rows)
    record = {"sweep": "classifier-grid", "preset": "quick", "trials": len(kept),
              "wall_time_s": wall_s, "trials_span_s": max(r["reported_at"] for r in rows) - started, "rows": kept}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n")


def key(params: dict) -> tuple:
    return tuple(float(params[p]) for p in sorted(CLASSIFIER_SEARCH.optimize.params))


def replay(kind: str, seed: int, table: dict, budget: int, settings: dict | None) -> list[float]:
    """Hypervolume after each of `budget` trials of one searcher on the table."""
    torch.set_num_threads(1)  # GPSampler's torch: spinning threads only slow a shared machine down
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    optimize = CLASSIFIER_SEARCH.optimize
    reference = to_minimised([optimize.reference[m] for m in optimize.metrics], optimize.modes)
    points, curve = [], []
    if kind == "grid":  # the grid sweep's own order: the product of the axes as the sweep lists them
        axes = {p: sorted(set(r[p] for r in table.values())) for p in optimize.params}
        order = [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())]
        asks = iter(order)
    else:
        study = optuna.create_study(directions=["maximize" if m == "max" else "minimize" for m in optimize.modes],
                                    sampler=make_sampler(kind, seed, settings))
        space = optuna_space(optimize.params)
    for _ in range(budget):
        if kind == "grid":
            params = next(asks)
        else:
            trial = study.ask(space)
            params = trial.params
        row = table[key(params)]
        values = [row[m] for m in optimize.metrics]
        if kind != "grid":
            study.tell(trial, values)
        points.append(to_minimised(values, optimize.modes))
        curve.append(hypervolume(points, reference))
    return curve


def quartiles(values: list[float]) -> dict:
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive") if len(set(values)) > 1 else [values[0]] * 3
    return {"median": median, "q1": q1, "q3": q3, "iqr": q3 - q1}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", type=Path, default=TABLE)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--searchers", default=",".join(SEARCHERS))
    parser.add_argument("--jobs", type=int, default=1, help="processes for the repetitions (default 1)")
    parser.add_argument("--optuna-defaults", action="store_true", help="Optuna's own sampler settings, not ours")
    parser.add_argument("--export", type=Path, help="write the table from this results.parquet and stop")
    parser.add_argument("--wall-s", type=float, help="the grid run's wall time, stored with --export")
    args = parser.parse_args(argv)
    if args.export:
        export(args.export, args.wall_s, args.table)
        return 0
    logging.getLogger("optuna").setLevel(logging.ERROR)
    record = json.loads(args.table.read_text())
    table = {key(r): r for r in record["rows"]}
    optimize = CLASSIFIER_SEARCH.optimize
    reference = to_minimised([optimize.reference[m] for m in optimize.metrics], optimize.modes)
    full = hypervolume([to_minimised([r[m] for m in optimize.metrics], optimize.modes) for r in table.values()],
                       reference)
    size = len(table)
    budgets = {name: max(1, round(size * f)) for name, f in FRACTIONS.items()}
    results, seconds = {}, {}
    for kind in args.searchers.split(","):
        t0 = time.perf_counter()
        repeats = 1 if kind == "grid" else args.repeats
        settings = {} if args.optuna_defaults else None
        calls = ([kind] * repeats, range(repeats), [table] * repeats, [budgets["half"]] * repeats, [settings] * repeats)
        if args.jobs > 1:  # repetitions are independent: one process each
            with ProcessPoolExecutor(args.jobs) as pool:
                curves = list(pool.map(replay, *calls))
        else:
            curves = list(map(replay, *calls))
        seconds[kind] = round(time.perf_counter() - t0, 1)
        results[kind] = {name: quartiles([c[n - 1] / full for c in curves]) for name, n in budgets.items()}
        print(f"{kind:>7} ({seconds[kind]:.0f} s): " + "  ".join(
            f"{name} ({budgets[name]}) {r['median']:.3f} [{r['q1']:.3f}, {r['q3']:.3f}]"
            for name, r in results[kind].items()), flush=True)
    line = {"grid_size": size, "grid_wall_time_s": record.get("wall_time_s"), "full_grid_hv": full,
            "budgets": budgets, "repeats": args.repeats, "optuna_defaults": args.optuna_defaults,
            "hv_fraction": results, "seconds": seconds}
    if "tpe" in results and "random" in results:
        line["tpe_hv_fraction_at_third"] = results["tpe"]["third"]["median"]
        line["tpe_vs_random_at_third"] = results["tpe"]["third"]["median"] / results["random"]["third"]["median"]
    print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())

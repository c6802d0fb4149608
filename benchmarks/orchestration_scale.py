"""jdnas's driver at cluster trial counts: N trials x R results on a simulated cluster (a local Ray offering
logical GPUs, trials asking for one each), once through jdnas's driver path and once through bare Ray Tune,
in alternating rounds, each side in a fresh process (so its peak RSS is its own). 16 GPUs by default: every
trial running at once is a Ray worker process (~100 MB, seconds of CPU to start), and 64 of them swamp a
2-core machine; `--gpus 64` on a bigger one.

The trials sleep and report instead of training. The jdnas side runs them through what a real sweep uses:
the MLflow callback (a parent run, a child run per trial, every result logged) against a real `jdnas
tracking-server`, the progress lines, Tune's storage and checkpoint settings as `jdnas run` sets them, and
the Parquet export at the end. The bare side is the same Tuner without any of that.

    python benchmarks/orchestration_scale.py [--trials 1000] [--results 20] [--sleep 0.2] [--gpus 16] [--rounds 1]

Anchor: Ray's own scalability benchmark, 10,000 one-result trials in 715 s against a 625 s minimum
(14 % overhead). Goal: overhead_vs_tune <= 1.15 and driver memory flat in the trial count. Ends with one
JSON line: trials, results_per_s, overhead_vs_tune, driver_peak_rss_mb, mlflow_rows_per_s (and
mlflow_request_ms, the server's answer time on a kept-alive connection).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from orchestrator.cluster.local import free_port, stop_process_groups  # noqa: E402

METRICS = ("val_acc", "val_loss", "train_loss", "lr", "epoch_time_s", "val_psnr")


def sleeping_trial(config):
    """A trial's reporting without its training: R results, `sleep_s` apart, with metrics like a real epoch's."""
    from ray import tune

    for epoch in range(1, config["results"] + 1):
        time.sleep(config["sleep_s"])
        tune.report({"epoch": epoch, **{name: epoch * 0.01 + i for i, name in enumerate(METRICS)}})


def tuner(args, workdir: Path, name: str, callbacks: list):
    """The same Tuner for both sides; with callbacks it gets `jdnas run`'s run settings (runner.build_tuner)."""
    from ray import tune

    trainable = tune.with_resources(sleeping_trial, {"cpu": 0, "gpu": 1})
    space = {"results": args.results, "sleep_s": args.sleep, "label": "sleeper",
             "seed": tune.grid_search(list(range(args.trials)))}
    run_config = tune.RunConfig(name=name, storage_path=str(workdir / "results"), callbacks=callbacks, verbose=0,
                                checkpoint_config=tune.CheckpointConfig(num_to_keep=2) if callbacks else None,
                                failure_config=tune.FailureConfig(max_failures=1) if callbacks else None)
    return tune.Tuner(trainable, param_space=space, run_config=run_config,
                      tune_config=tune.TuneConfig(reuse_actors=True, trial_dirname_creator=lambda t: t.trial_id))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def jdnas_side(args, workdir: Path, name: str) -> float:
    """Tracking (parent + child runs), progress lines, the fit, then the rows and the Parquet; returns the
    driver's peak RSS at the end of the fit (before the rows and the Parquet)."""
    from orchestrator.run.progress import ProgressCallback
    from orchestrator.records.results import EndedTrials, export_parquet
    from orchestrator.records.storage import resolve_storage
    from orchestrator.tracking.runs import MLflowCallback, SweepTracker

    storage = resolve_storage(workdir / "results")
    tracker = SweepTracker(args.tracking_uri, "orchestration-scale", name)
    parent = tracker.parent_run({"trials": args.trials, "results": args.results}, {"jdnas.preset": "bench"})
    callback, ended = MLflowCallback(args.tracking_uri, "orchestration-scale", name, parent), EndedTrials()
    with open(workdir / f"{name}.progress", "w") as progress, redirect_stdout(progress):
        tuner(args, workdir, name, [callback, ended, ProgressCallback(args.trials, "val_acc", args.results)]).fit()
    fit_peak = peak_rss_mb()
    rows = ended.rows(storage, name)
    export_parquet(rows, storage, name)
    tracker.finish_parent(parent, "FINISHED")
    assert len(rows) == args.trials and callback.unsent == 0, (len(rows), callback.unsent)
    return fit_peak


def one_side(args) -> None:
    """Child process: start the simulated cluster, run one side, print its wall time and peak RSS as JSON."""
    import ray

    from orchestrator.cluster.ray_auth import loopback_only, use_token_auth

    workdir = Path(args.workdir)
    os.environ.update(TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S="0")
    use_token_auth()  # as every Ray jdnas starts: a token, listeners on 127.0.0.1 (docs/security.md)
    for attempt in range(3):  # a loaded machine can miss Ray's fixed 30 s start-up limit
        try:
            with loopback_only():
                ray.init(num_cpus=2, num_gpus=args.gpus, include_dashboard=False, _temp_dir=args.ray_tmp,
                         object_store_memory=200 * 1024 ** 2, logging_level="error", log_to_driver=False)
            break
        except Exception:  # noqa: BLE001 - Ray raises a bare Exception for it
            ray.shutdown()
            if attempt == 2:
                raise
    t0 = time.perf_counter()
    if args.side == "jdnas":
        fit_peak = jdnas_side(args, workdir, args.name)
    else:
        assert len(tuner(args, workdir, args.name, []).fit()) == args.trials
        fit_peak = peak_rss_mb()
    wall = time.perf_counter() - t0
    ray.shutdown()
    print(json.dumps({"wall_s": wall, "peak_rss_mb": peak_rss_mb(), "fit_peak_rss_mb": fit_peak}))


def run_side(args, side: str, round_: int, root: Path, tracking_uri: str) -> dict:
    name = f"{side}-{args.trials}-r{round_}"
    argv = [sys.executable, __file__, "--side", side, "--name", name, "--workdir", str(root),
            "--tracking-uri", tracking_uri, "--ray-tmp", tempfile.mkdtemp(prefix="r21b-"),
            "--trials", str(args.trials), "--results", str(args.results), "--sleep", str(args.sleep),
            "--gpus", str(args.gpus)]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"{side} round {round_} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"  round {round_} {side:<6}: {result['wall_s']:7.1f} s, driver peak RSS {result['peak_rss_mb']:6.0f} MB "
          f"({result['fit_peak_rss_mb']:.0f} MB by the end of the fit)", flush=True)
    return result


def start_tracking_server(root: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli.main", "tracking-server", "--backend-store-uri",
         f"sqlite:///{root / 'mlflow.db'}", "--artifacts-destination", str(root / "artifacts"), "--port", str(port)],
        cwd=ROOT, stdout=open(root / "server.log", "w"), stderr=subprocess.STDOUT, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    import urllib.request

    for _ in range(120):
        try:
            urllib.request.urlopen(f"{uri}/health", timeout=2)
            return server, uri
        except OSError:
            time.sleep(1)
    raise RuntimeError(f"tracking server did not start; see {root / 'server.log'}")


def request_ms(uri: str, n: int = 20) -> float:
    """Median time of a request on one kept-alive connection, as MLflow's client sends them (a uvicorn with
    several workers answered these in 44 ms, Nagle against a delayed ACK, against 0.8 ms with one)."""
    import requests

    with requests.Session() as session:
        session.get(f"{uri}/health")
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            session.get(f"{uri}/health").raise_for_status()
            times.append((time.perf_counter() - t0) * 1000)
    return sorted(times)[n // 2]


def metric_rows(root: Path) -> int:
    with sqlite3.connect(root / "mlflow.db") as db:
        return db.execute("SELECT COUNT(*) FROM metrics").fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--results", type=int, default=20, help="results per trial")
    parser.add_argument("--sleep", type=float, default=0.2, help="seconds between a trial's results")
    parser.add_argument("--gpus", type=int, default=16, help="logical GPUs of the simulated cluster (trials at once)")
    parser.add_argument("--rounds", type=int, default=1, help="alternating rounds of both sides (fastest-of)")
    for internal in ("--side", "--name", "--workdir", "--tracking-uri", "--ray-tmp"):
        parser.add_argument(internal, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        return one_side(args)

    root = Path(tempfile.mkdtemp(prefix="jdnas-scale-"))
    server, uri = start_tracking_server(root)
    per_request = request_ms(uri)
    print(f"{args.trials} trials x {args.results} results, {args.sleep} s apart, on {args.gpus} logical GPUs; "
          f"MLflow at {uri} (SQLite, {per_request:.1f} ms a kept-alive request)", flush=True)
    try:
        walls = {"tune": [], "jdnas": []}
        for round_ in range(args.rounds):
            for side in ("tune", "jdnas") if round_ % 2 == 0 else ("jdnas", "tune"):
                walls[side].append(run_side(args, side, round_, root, uri))
        rows_total = metric_rows(root)
    finally:
        stop_process_groups([server], grace=10)
        shutil.rmtree(root, ignore_errors=True)
    best = {side: min(r["wall_s"] for r in runs) for side, runs in walls.items()}
    floor = -(-args.trials // args.gpus) * args.results * args.sleep
    rows = rows_total / args.rounds  # every round logs the same rows
    summary = {"benchmark": "orchestration_scale", "trials": args.trials, "results_per_trial": args.results,
               "results_per_s": round(args.trials * args.results / best["jdnas"], 1),
               "overhead_vs_tune": round(best["jdnas"] / best["tune"], 3),
               "driver_peak_rss_mb": round(max(r["peak_rss_mb"] for r in walls["jdnas"]), 1),
               "tune_driver_peak_rss_mb": round(max(r["peak_rss_mb"] for r in walls["tune"]), 1),
               "driver_fit_peak_rss_mb": round(max(r["fit_peak_rss_mb"] for r in walls["jdnas"]), 1),
               "tune_driver_fit_peak_rss_mb": round(max(r["fit_peak_rss_mb"] for r in walls["tune"]), 1),
               "mlflow_rows_per_s": round(rows / best["jdnas"], 1), "mlflow_request_ms": round(per_request, 2),
               "jdnas_wall_s": round(best["jdnas"], 1),
               "tune_wall_s": round(best["tune"], 1), "sleep_floor_s": floor, "goal": "overhead_vs_tune <= 1.15"}
    print(f"jdnas {best['jdnas']:.1f} s, bare Tune {best['tune']:.1f} s (sleep alone: {floor:.0f} s); "
          f"{rows:.0f} MLflow metric rows per jdnas round")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

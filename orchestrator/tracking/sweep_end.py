"""What a sweep's end writes to MLflow: the exclusive phase's latencies on each trial's child run, the parent run's
tags and report, then the parent run closed."""
from __future__ import annotations

from pathlib import Path

from mlflow.entities import Metric, RunTag

from orchestrator.exits import failed_rows
from orchestrator.tracking.runs import MLflowCallback, SweepTracker


def close_tracking(tracker: SweepTracker, callback: MLflowCallback, rows: list[dict], exclusive: bool,
                   complete: bool, report_path: Path, report_tags: dict[str, str]) -> bool:
    """The MLflow extras of a run's end (exclusive latencies, the parent's tags and report), then the parent
    run closed, even when an extra failed; False when something is missing from MLflow."""
    parent_run_id, failed = callback.binding["parent_run_id"], len(failed_rows(rows))
    status = "KILLED" if not complete else "FAILED" if failed else "FINISHED"
    try:
        if exclusive:
            log_exclusive_latency(rows, tracker, parent_run_id)
        tracker.client.set_tag(parent_run_id, "jdnas.failed_trials", str(failed))
        tracker.client.set_tag(parent_run_id, "jdnas.unsent_results", str(callback.unsent))
        for key, value in report_tags.items():  # the report's claim verdicts
            tracker.client.set_tag(parent_run_id, key, value)
        tracker.finish_parent(parent_run_id, status, sorted(report_path.parent.glob("*")))
        return True
    except Exception as err:  # noqa: BLE001 - results are on disk; MLflow can be synced later
        print(f"[jdnas] could not update MLflow at the end ({type(err).__name__}: {str(err)[:300]})", flush=True)
    try:
        tracker.client.set_terminated(parent_run_id, status)
    except Exception:  # noqa: BLE001 - the summary says to run sync-mlflow
        pass
    return False


def log_exclusive_latency(rows: list[dict], tracker, parent_run_id: str) -> None:
    """latency_ms (a later point at the last epoch, so it becomes the run's current value), the in-trial
    number and where each came from, on every child run that has not received them yet."""
    for row in rows:
        if row.get("latency_source") != "exclusive":
            continue
        run_id = tracker.child_run(parent_run_id, row["trial_id"], row["label"], {}, {})
        if tracker.client.get_run(run_id).data.tags.get("jdnas.latency_source") == "exclusive":
            continue
        stamp, step = int(row["latency_measured_at"] * 1000), int(row.get("epoch") or 0)
        metrics = [Metric(name, float(row[key]), stamp, step) for name, key in (
            ("latency_ms", "latency_ms"), ("latency_iqr_ms", "latency_iqr_ms"), ("latency_exclusive_ms", "latency_ms"),
            ("latency_in_trial_ms", "latency_in_trial_ms"))]
        tags = [RunTag("jdnas.latency_source", "exclusive"), RunTag("latency_device", str(row["latency_device"])),
                RunTag("latency_in_trial_device", str(row.get("latency_in_trial_device")))]
        tracker.client.log_batch(run_id, metrics=metrics, tags=tags)

"""The exit codes of the CLI (one table, used by `--help`, the README and the code) and the end summary
of the trials that failed for good, so a script or a CI job can trust `$?`."""
from __future__ import annotations

EXIT_OK = 0            # every trial finished
EXIT_FAILED = 1        # the sweep ran to its end but some trial failed for good (after max_failures retries)
EXIT_BAD_INPUT = 2     # refused before any cluster work: unknown sweep/field/value, missing data, bad URI
EXIT_INTERRUPTED = 130  # Ctrl-C or a stop signal: run the same command again to resume

EXIT_CODES_HELP = """exit codes:
  0    every trial finished
  1    some trial failed for good (each is named at the end with its last error line and its log);
       the MLflow parent run is marked FAILED and tagged jdnas.failed_trials
  2    bad input, refused before Ray starts (unknown sweep, field or value, missing data, bad URI)
  130  interrupted (Ctrl-C): run the same command again to resume"""


def run_exit_code(complete: bool, failed: int) -> int:
    if not complete:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if failed else EXIT_OK


def failed_rows(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r.get("status") == "ERROR"]


def last_error_line(error: str | None) -> str:
    lines = [line.strip() for line in (error or "").splitlines() if line.strip()]
    return lines[-1] if lines else "unknown error"


def failure_summary(rows: list[dict]) -> list[str]:
    """One block per failed trial: its label, the last line of its error and where the full log is."""
    out = []
    for row in failed_rows(rows):
        out.append(f"  FAILED {row.get('label') or row['trial_id']} (trial {row['trial_id']}): "
                   f"{last_error_line(row.get('error'))}")
        out.append(f"         full log: {row.get('error_log') or 'not saved'}")
    return out

SUBMIT_EXIT_CODES_HELP = """exit codes:
  0    the job was submitted (with --wait: it succeeded, i.e. `jdnas run` on the head exited 0)
  1    with --wait: the job failed or stopped (a trial failed for good, or the run was interrupted)
  2    bad input, refused before reaching the cluster
  130  interrupted while waiting (the job goes on: `ray job stop` ends it)"""

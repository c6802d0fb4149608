"""The exit codes of the CLI (one table, used by `--help`, the README and the code) and the end summary
of the trials that failed for good, so a script or a CI job can trust `$?`."""
from __future__ import annotations

import os
import signal
import sys
import tempfile
import textwrap
import threading
import time
import traceback
from pathlib import Path

EXIT_OK = 0            # every trial finished
EXIT_FAILED = 1        # the sweep ran to its end but some trial failed for good (after max_failures retries)
EXIT_BAD_INPUT = 2     # refused before any cluster work: unknown sweep/field/value, missing data, bad URI
EXIT_INTERNAL = 3      # an error of jdnas or its environment after the run started: traceback saved to a log
EXIT_TRACKING = 4      # results and report written, but MLflow could not be brought up to date
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM: run the same command again to resume
EXIT_TIMEOUT = 124     # submit --wait --timeout: the job still runs (timeout(1)'s code)

# The one source of the table: `jdnas run --help` prints it, README.md holds `readme_table()` verbatim (a test checks)
RUN_EXIT_CODES = (
    (EXIT_OK, "every trial finished"),
    (EXIT_FAILED, "some trial failed for good (after `max_failures` retries): the end summary names each one with "
                  "its last error line and the path of its full log; the MLflow parent run is marked FAILED and "
                  "tagged `jdnas.failed_trials`"),
    (EXIT_BAD_INPUT, "bad input, refused before Ray starts (unknown sweep, field or value, a sweep file that does "
                     "not load, missing data, unreachable tracking URI)"),
    (EXIT_INTERNAL, "internal error after the run started (a bug, a full disk, storage unreachable): one line "
                    "names it and the log holding its traceback; the same command resumes"),
    (EXIT_TRACKING, "the trials ran and Parquet and report are written, but MLflow could not be updated at the "
                    "end: `jdnas sync-mlflow` sends what is missing"),
    (EXIT_INTERRUPTED, "interrupted (Ctrl-C, or SIGTERM from `ray job stop` or a scheduler): Tune's state is "
                       "saved, run the same command again to resume"),
)

EXIT_CODES_HELP = "exit codes:\n" + "\n".join(
    textwrap.fill(text.replace("`", ""), 108, initial_indent=f"  {code:<4} ", subsequent_indent=" " * 7)
    for code, text in RUN_EXIT_CODES)


def readme_table() -> str:
    return "| code | meaning |\n|---|---|\n" + "\n".join(f"| {code} | {text} |" for code, text in RUN_EXIT_CODES)


def stop_on_sigterm_like_ctrl_c() -> None:
    """`ray job stop`, `kill` or a scheduler's preemption stop the run the way Ctrl-C does: Tune saves its
    state, the run exits 130 and the same command resumes. Call again after `ray.init`, whose signal
    handlers otherwise abort the driver on SIGTERM."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda signum, frame: os.kill(os.getpid(), signal.SIGINT))


class BadInput(ValueError):
    """Refused before Ray starts; the message is the one line the user sees (exit 2)."""


class InternalError(RuntimeError):
    """Something failed after the run started; the cause's traceback goes to a log (exit 3)."""


def save_traceback(err: BaseException, workdir: str | Path = ".") -> Path:
    """Write the full traceback under WORKDIR/logs (else the temp dir) and return the file's path."""
    text = "".join(traceback.format_exception(err))
    for folder in (Path(workdir) / "logs", Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder.resolve() / f"jdnas-error-{time.strftime('%Y%m%d-%H%M%S')}-{id(err) % 10000}.log"
            path.write_text(text)
            return path
        except OSError:
            continue
    sys.stderr.write(text)
    return Path("<stderr>")


def run_exit_code(complete: bool, failed: int, tracked: bool = True) -> int:
    if not complete:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if failed else EXIT_OK if tracked else EXIT_TRACKING


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

SUBMIT_EXIT_CODES_HELP = f"""exit codes:
  {EXIT_OK:<4} the job was submitted (with --wait: it succeeded, i.e. `jdnas run` on the head exited 0)
  {EXIT_FAILED:<4} with --wait: the job failed or stopped (a trial failed for good, or the run was interrupted)
  {EXIT_BAD_INPUT:<4} bad input, refused before reaching the cluster
  {EXIT_TIMEOUT:<4} with --wait --timeout: the job still runs after the timeout (it goes on)
  {EXIT_INTERRUPTED:<4} interrupted while waiting (the job goes on: `ray job stop` ends it)"""

"""The CLI's exit codes tell the truth: a sweep with a trial that failed for good exits 1 and names it;
bad input exits 2 on one line, before Ray."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from orchestrator.exits import readme_table


def jdnas(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "orchestrator.cli.main", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONUNBUFFERED": "1"})


@pytest.mark.slow
def test_a_trial_that_failed_for_good_makes_the_run_exit_1_and_is_named(tmp_path):
    # two trials on synthetic data; the second raises at its second epoch and may not be retried
    (tmp_path / "failing.py").write_text(
        "from search_spaces import Sweep\n"
        "FAILING = Sweep(name='fail-check', trainable='classifier', grid={'fail_at_epoch': [None, 1]},\n"
        "                fixed={'classifier': 'Conv-S', 'dataset': 'synthetic', 'max_failures': 0}, seeds=1)\n")
    result = jdnas("run", f"{tmp_path}/failing.py:FAILING", "--workdir", str(tmp_path), "--set", "epochs=2",
                   "--set", "train_size=128", "--set", "val_size=32", "--set", "test_size=64",
                   "--set", "latency_min_run_time=0.02", timeout=800)
    out = result.stdout
    assert result.returncode == 1, out[-3000:] + result.stderr[-3000:]
    assert "2/2 trials, 1 errored" in out
    failed = [line for line in out.splitlines() if line.strip().startswith("FAILED Conv-S seed0 (trial ")]
    assert len(failed) == 1 and failed[0].endswith("RuntimeError: injected failure at epoch 1 (fail_at_epoch)")
    log_line = out.splitlines()[out.splitlines().index(failed[0]) + 1]
    log = Path(log_line.split("full log: ")[1])
    assert log.is_file() and "trainables/loop.py" in log.read_text() and "injected failure at epoch 1" in log.read_text()

    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.get_experiment_by_name("fail-check")
    parent, = client.search_runs([experiment.experiment_id], "tags.`jdnas.role` = 'parent'")
    assert parent.info.status == "FAILED" and parent.data.tags["jdnas.failed_trials"] == "1"
    children = client.search_runs([experiment.experiment_id], "tags.`jdnas.role` = 'trial'")
    assert sorted(c.info.status for c in children) == ["FAILED", "FINISHED"]

    # the same command again: the errored trial resumes from its epoch-1 checkpoint into its own child run
    # (its injected failure fires only on a fresh start), and now the run exits 0 with the parent FINISHED
    again = jdnas("run", f"{tmp_path}/failing.py:FAILING", "--workdir", str(tmp_path), "--set", "epochs=2",
                  "--set", "train_size=128", "--set", "val_size=32", "--set", "test_size=64",
                  "--set", "latency_min_run_time=0.02", timeout=800)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "resuming" in again.stdout and "2/2 trials, 0 errored" in again.stdout
    parent_after, = client.search_runs([experiment.experiment_id], "tags.`jdnas.role` = 'parent'")
    assert parent_after.info.run_id == parent.info.run_id and parent_after.info.status == "FINISHED"
    after = client.search_runs([experiment.experiment_id], "tags.`jdnas.role` = 'trial'")
    assert {c.info.run_id for c in after} == {c.info.run_id for c in children}  # no new child run
    assert [c.info.status for c in after] == ["FINISHED", "FINISHED"]
    for child in after:
        assert [m.step for m in client.get_metric_history(child.info.run_id, "epoch")] == [1, 2]


@pytest.mark.parametrize("sweep,message", [
    ("nope.py:X", "jdnas: error: sweep file 'nope.py' does not exist"),
    ("{dir}/mine.py:MISSING", "jdnas: error: '{dir}/mine.py' defines no 'MISSING'; its sweeps: MINE"),
    ("{dir}/mine.py:OTHER", "jdnas: error: {dir}/mine.py:OTHER is of type int, not a search_spaces.Sweep"),
    ("{dir}/broken.py:X", "jdnas: error: sweep file '{dir}/broken.py' fails to import: NameError: name 'oops'"),
])
def test_a_bad_sweep_file_is_one_line_and_exit_2(tmp_path, sweep, message):
    (tmp_path / "mine.py").write_text("from search_spaces import Sweep\n"
                                      "MINE = Sweep(name='mine', trainable='denoiser')\nOTHER = 3\n")
    (tmp_path / "broken.py").write_text("X = oops\n")
    result = jdnas("run", sweep.format(dir=tmp_path), "--workdir", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]  # one line, no traceback
    assert result.stderr.startswith(message.format(dir=tmp_path))


def _leading_clause(meaning: str) -> str:
    """A code's meaning up to its first '(' or ':' (what follows is detail each place words its own way)."""
    return re.split(r"[(:]", meaning, maxsplit=1)[0].strip().rstrip(",;").lower()


def readme_exit_codes() -> dict[str, str]:
    """{code: meaning} from the README's exit-code table (the `| code | meaning |` table under its heading)."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("### Exit codes", 1)[1].split("\n#", 1)[0]
    return {m.group(1): m.group(2) for m in re.finditer(r"^\| (\d+) \| (.+) \|$", section, re.MULTILINE)}


def help_exit_codes(command: str) -> dict[str, str]:
    """{code: meaning} from the `exit codes:` block of `jdnas COMMAND --help`, continuation lines joined."""
    block = jdnas(command, "--help").stdout.split("exit codes:", 1)[1]
    codes: dict[str, str] = {}
    for line in block.splitlines():
        if m := re.match(r"^\s+(\d+)\s{2,}(.+)$", line):
            codes[m.group(1)] = m.group(2).strip()
        elif line.strip() and codes:
            codes[next(reversed(codes))] += " " + line.strip()
    return codes


def test_exit_codes_are_documented_alike_in_help_and_readme():
    """The README's table and `jdnas run --help` are written separately: the same codes, each meaning the
    same (its leading clause), and the codes the CLI returns are the ones both list."""
    from orchestrator import exits

    readme, help_text = readme_exit_codes(), help_exit_codes("run")
    assert set(readme) == set(help_text) and len(readme) >= 4, (readme, help_text)
    for code, meaning in readme.items():
        assert _leading_clause(meaning) == _leading_clause(help_text[code]), (code, meaning, help_text[code])
    returned = {exits.EXIT_OK, exits.EXIT_FAILED, exits.EXIT_BAD_INPUT, exits.EXIT_INTERNAL, exits.EXIT_TRACKING,
                exits.EXIT_INTERRUPTED}
    assert {str(c) for c in returned} <= set(readme)
    assert readme_table() in (Path(__file__).resolve().parents[1] / "README.md").read_text()  # one source
    submit = help_exit_codes("submit")
    assert "--wait" in submit["1"] and {"0", "1", "2"} <= set(submit)  # README: submit --wait exits 1 otherwise

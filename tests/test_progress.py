"""The progress lines count what a resumed sweep had already finished, not only what this driver ran."""
from types import SimpleNamespace

from orchestrator.run.progress import ProgressCallback


def trial(trial_id, status):
    return SimpleNamespace(trial_id=trial_id, status=status, config={"seed": 0, "label": trial_id},
                           last_result={"test_acc": 50.0}, error_file=None)


def test_a_resumed_sweep_counts_the_trials_that_ended_before(capsys):
    done, failed, fresh, later = trial("a", "TERMINATED"), trial("b", "ERROR"), trial("c", "PENDING"), trial("d", "PENDING")
    progress = ProgressCallback(total=4, metric="val_acc", epochs=2)
    progress.on_trial_start(0, [done, failed, fresh, later], fresh)
    progress.on_trial_complete(0, [done, failed, fresh, later], fresh)
    progress.on_trial_start(0, [done, failed, fresh, later], later)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("] ")[1].split(" |")[0] for line in lines] == \
        ["2/4 done, 1 running", "3/4 done, 0 running", "3/4 done, 1 running"]


def test_an_interrupted_sweeps_summary_counts_the_trials_that_ended_not_the_rows(capsys):
    """The rows of an interrupted sweep hold its pending trials too: 5 of 32 had ended when a repro run was
    stopped, and its summary read '32/32 trials'."""
    from orchestrator.run.sweep import SweepOutcome, print_summary
    from search_spaces import get_sweep, resolve

    resolved = resolve(get_sweep("classifier-scaling"), "quick", {"seeds": 2})  # 8 networks x 2 seeds
    rows = [{"status": "TERMINATED", "label": "Conv-L seed0", "test_acc": 60.0, "val_acc": 61.0},
            {"status": "ERROR", "label": "Conv-L seed1", "trial_id": "t1", "error": "boom"}] + [{"status": "PENDING"}] * 14
    outcome = SweepOutcome("classifier-scaling-quick", "results", "results.parquet", None, "sqlite:///m.db", "p",
                           rows=rows, complete=False)
    print_summary(outcome, resolved, 60.0, 0)
    assert "interrupted (run the same command again to resume): 2/16 trials, 1 errored, 1.0 min" in \
        capsys.readouterr().out

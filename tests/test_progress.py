"""The progress lines count what a resumed sweep had already finished, not only what this driver ran."""
from types import SimpleNamespace

from orchestrator.progress import ProgressCallback


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

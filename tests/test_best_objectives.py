"""`jdnas best --objective acc|psnr|both`: which trials a hand-made SQLite store's Pareto front holds for each
quality objective, worked out by hand (no Ray)."""
import json

import pytest
import torch
from mlflow import MlflowClient

from orchestrator.cli.main import main
from trainables.models import build_model

from .test_registry import CONFIG

# label -> (test_acc, test_psnr, latency_ms). By hand, latency down and:
#   acc up:        R (75, 3.0) loses to P (80, 2.0), T (65, 1.5) to Q (70, 1.0)      -> S, Q, P
#   psnr up:       P (20, 2.0) and R (22, 3.0) lose to Q (25, 1.0), T (19, 1.5) too -> S, Q
#   both up:       R: P has more acc but less PSNR, Q more PSNR but less acc, so R is kept; T loses to Q
#                  on all three                                                    -> S, Q, P, R
TRIALS = {"P": (80.0, 20.0, 2.0), "Q": (70.0, 25.0, 1.0), "R": (75.0, 22.0, 3.0), "S": (60.0, 24.0, 0.5),
          "T": (65.0, 19.0, 1.5)}
EXPECTED = {"acc": ["S", "Q", "P"], "psnr": ["S", "Q"], "both": ["S", "Q", "P", "R"]}


@pytest.fixture
def store(tmp_path):
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.create_experiment("classifier-scaling", artifact_location=str(tmp_path / "artifacts"))
    client.create_run(experiment, run_name="mine", tags={"jdnas.role": "parent", "jdnas.experiment": "mine"})
    for label, (acc, psnr, latency) in TRIALS.items():
        run_id = client.create_run(experiment, run_name=label, tags={
            "jdnas.role": "trial", "jdnas.experiment": "mine", "jdnas.trial_id": f"t{label}",
            "latency_device": "test cpu"}).info.run_id
        for key, value in dict(test_acc=acc, test_psnr=psnr, latency_ms=latency, flops=100.0, epoch=2).items():
            client.log_metric(run_id, key, value, step=2)
        folder = tmp_path / label
        folder.mkdir()
        torch.save(build_model(CONFIG, 1, 3).state_dict(), folder / "model.pt")
        (folder / "config.json").write_text(json.dumps(CONFIG))
        for name in ("model.pt", "config.json"):
            client.log_artifact(run_id, str(folder / name))
        client.set_terminated(run_id, "FINISHED")
    return tmp_path


@pytest.mark.slow  # registers models: tens of seconds on a loaded machine
@pytest.mark.parametrize("objective", ["acc", "psnr", "both"])
def test_best_keeps_the_front_of_the_chosen_objective(store, objective, capsys):
    args = ["best", "classifier-scaling", "--name", "mine", "--workdir", str(store), "--objective", objective,
            "--model-name", f"best-{objective}"]
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    expected = EXPECTED[objective]
    assert lines[0].startswith(f"{len(expected)} Pareto-best of {len(TRIALS)} finished trials")
    rows = lines[2:2 + len(expected) + 1]  # version, 'new', trial label, metrics; cheapest first
    assert [line.split()[2] for line in rows if line.split()[1:2] == ["new"]] == expected

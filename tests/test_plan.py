"""`jdnas plan`: its arithmetic against hand calculations, and the command on a real (tiny) sweep."""
import json
import time

import pytest

from orchestrator.cli import main as cli
from orchestrator.run.plan import NetworkRate, list_schedule, recommend_packing, trial_seconds


def test_list_schedule_starts_each_trial_on_the_first_free_slot():
    # slots: [5], [4, 3], [2, 2] ... by hand: 5 | 4 3 -> t=7 | 2 at t=5 -> 7, 2 at t=7 -> 9
    assert list_schedule([5, 4, 3, 2, 2], 2) == 9
    assert list_schedule([5, 4, 3, 2, 2], 1) == 16
    assert list_schedule([3, 3, 3, 3], 4) == 3


def test_trial_time_adds_training_validation_checkpoints_test_and_latency():
    rate = NetworkRate("net", {}, step_s=0.1, eval_chunk_s=2.0, checkpoint_s=0.05, peak_memory_mb=None, batch_size=64)
    config = dict(batch_size=64, epochs=3, latency_min_run_time=0.2)
    sizes = dict(train=640, val=300, test=600)
    # per epoch: 10 steps x 0.1 + 300/256 chunks x 2.0 + 0.05 = 3.39375 (evaluation by the image, a partial
    # chunk at its share); final: 600/256 chunks x 2.0 + 1.5 x 0.2 + 0.3; plus the 2 s per-trial overhead
    epoch = 1.0 + 2.34375 + 0.05
    expected = 3 * epoch + (4.6875 + 0.3 + 0.3) + 2.0
    assert trial_seconds(config, rate, sizes) == pytest.approx(expected)
    # a two-stage sequential trial trains the denoiser, then the classifier (3 + 3 epochs), then 1 fine-tuning
    two_stage = dict(config, task="joint", joint_mode="sequential", sequential_training="two-stage", finetune_epochs=1)
    assert trial_seconds(two_stage, rate, sizes) == pytest.approx(expected + 4 * epoch)


def test_packing_recommendation_follows_throughput_gain_and_memory():
    def rate(speedup, peak):
        return NetworkRate("n", {}, 0.1, 1.0, 0.0, peak, speedup)

    gains = {1: 1.0, 2: 1.9, 4: 3.5, 8: 3.6}
    assert recommend_packing([rate(gains, 1000)], memory_mb=80_000) == 4      # 8 gains < 10 % over 4
    assert recommend_packing([rate(gains, 9000)], memory_mb=80_000) == 4      # 8 x 9.5 GB does not fit
    assert recommend_packing([rate(gains, 30_000)], memory_mb=80_000) == 2
    assert recommend_packing([rate({1: 1.0, 2: 1.05}, 100)], memory_mb=80_000) == 1


def test_plan_command_prices_a_tiny_sweep_on_this_machine(capsys):
    args = ["plan", "classifier-scaling", "--set", "classifier=Conv-S,MB1-S", "--set", "dataset=synthetic",
            "--set", "train_size=256", "--set", "val_size=64", "--set", "test_size=64", "--steps", "2"]
    assert cli.main(args + ["--cpus", "4", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["trials"] == 4 and sorted(n["label"] for n in plan["networks"]) == ["Conv-S", "MB1-S"]
    assert all(n["train_images_per_s"] > 0 for n in plan["networks"])
    # 4 CPUs at 2 per trial: two slots; trials in launch order, both seeds of the costlier network first
    t = plan["trial_s"]
    assert t[0] == t[1] and t[2] == t[3]
    phase = 4 * 5 * (0.2 + 0.3)  # the latency phase: 4 trials' networks x 5 rounds x (0.2 s timed + 0.3 s)
    assert plan["wall_s"] == pytest.approx(plan["measure_s"] + 8.0 + max(t[0] + t[2], t[1] + t[3]) + phase)
    assert cli.main(args) == 0
    text = capsys.readouterr().out
    assert "4 trials" in text and "[jdnas] estimate:" in text and "wall time about" in text


def test_plan_step_time_is_what_a_plain_training_loop_takes():
    """`plan`'s seconds per training step against a bare loop of the same batch step (forward, cross-entropy,
    backward, Adam), written here without the loop's helpers; alternated rounds, fastest of each."""
    import torch
    import torch.nn.functional as F

    from trainables.config import defaults
    from trainables.models import build_model
    from orchestrator.run.plan import measure_network

    from .timing import fastest_alternated, within_band

    config = {**defaults(), "task": "classifier", "classifier": "MB1-S", "batch_size": 32, "augment": False,
              "eval_noise_levels": [0.0]}
    model = build_model(config, 1, 10)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    images, labels = torch.rand(32, 1, 32, 32), torch.randint(10, (32,))

    def plain_step_s(steps=4, blocks=2):  # the fastest of `blocks` blocks of `steps` steps, as plan takes
        model.train()
        fastest = float("inf")
        for _ in range(blocks):
            t0 = time.perf_counter()
            for _ in range(steps):
                loss = F.cross_entropy(model(images + 0.3 * torch.randn_like(images)), labels)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            fastest = min(fastest, (time.perf_counter() - t0) / steps)
        return fastest

    plain_step_s(1, 1)  # warm-up
    best = fastest_alternated(6, {
        "plan": lambda: {"step_s": measure_network(config, (1, 32, 32), 10, torch.device("cpu"), steps=4).step_s},
        "plain": lambda: {"step_s": plain_step_s()}})
    assert within_band(best["plan"]["step_s"], best["plain"]["step_s"]), best

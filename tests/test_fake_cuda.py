"""GPU branches on a machine without one, through tests/fake_cuda.py: the GPU count a local Ray gets, the
device a re-timing picks, the paper's batch-32 latency default, and `jdnas plan`'s memory and packing path."""
import pytest
import torch

from orchestrator.run import plan as plan_module
from orchestrator.run.plan import NetworkRate, format_plan, list_schedule, make_plan, trial_seconds
from orchestrator.run.resources import check_local_resources, local_gpus
from orchestrator.run.retime import local_device
from search_spaces import get_sweep, resolve
from trainables.loop import default_latency_batch

from . import fake_cuda

SMALL = {"dataset": "synthetic", "classifier": ["Conv-S", "MB1-S"], "train_size": 256, "val_size": 64,
         "test_size": 64}
GAINS = {1: 1.0, 2: 1.9, 4: 3.5, 8: 3.6}  # throughput of k batches at once / one batch


def test_gpu_count_and_device_pick_follow_what_cuda_reports(monkeypatch):
    assert local_gpus(None) == (torch.cuda.device_count() if torch.cuda.is_available() else 0)
    fake_cuda.install(monkeypatch, count=2)
    assert local_gpus(None) == 2 and local_gpus(0.5) == 0.5  # --num-gpus wins
    check_local_resources("s", {"gpus_per_trial": 2}, None)  # fits: no error
    with pytest.raises(ValueError, match="ask for 3 GPU each, but this machine has 2 GPUs"):
        check_local_resources("s", {"gpus_per_trial": 3}, None)
    assert local_device(fake_cuda.FAKE_GPU) == "cuda"       # a row timed on this GPU is re-timed here
    assert local_device("NVIDIA H100 80GB HBM3") is None      # another GPU: left as measured


def test_latency_batch_is_the_papers_32_on_a_gpu_and_1_on_a_cpu():
    assert default_latency_batch({"latency_batch_size": None}, torch.device("cuda")) == 32
    assert default_latency_batch({"latency_batch_size": None}, torch.device("cpu")) == 1
    assert default_latency_batch({"latency_batch_size": 8}, torch.device("cuda")) == 8


def measured(peak_mb):
    """measure_network's stand-in: the rates a GPU would give (nothing can run on the fake one)."""
    def measure(config, shape, classes, device, steps=4, packing=False):
        assert device.type == "cuda" and packing  # plan measured on the GPU and asked for the packing gains
        return NetworkRate(config["classifier"], {}, step_s=0.02, eval_chunk_s=0.5, checkpoint_s=0.01,
                           peak_memory_mb=peak_mb, packing_speedup=dict(GAINS), batch_size=config["batch_size"])
    return measure


@pytest.mark.parametrize("memory_mb,peak_mb,recommended", [
    (80_000, 9_000, 4),    # 8 x (9 GB + 0.5 GB context) > 90 % of 80 GB; 4 gains > 10 % over 2
    (20_000, 9_000, 1),    # 2 x 9.5 GB > 18 GB
    (80_000, 1_000, 4)])   # everything fits; 8 gains < 10 % over 4
def test_plan_on_a_gpu_prices_packing_from_memory_and_throughput(monkeypatch, memory_mb, peak_mb, recommended):
    fake_cuda.install(monkeypatch, count=2, memory_mb=memory_mb)
    monkeypatch.setattr(plan_module, "measure_network", measured(peak_mb))
    resolved = resolve(get_sweep("classifier-scaling"), "quick", {**SMALL, "gpus_per_trial": 0.5})
    plan = make_plan(resolved, gpus=2)
    assert (plan.device, plan.device_name, plan.note) == ("cuda", fake_cuda.FAKE_GPU, "")
    assert plan.recommended_packing == recommended and plan.devices == 2
    # gpus_per_trial 0.5 packs 2 per GPU, each trial 2 / 1.9 slower, 4 slots over the two GPUs; then the
    # exclusive latency phase: every trial's network, 5 interleaved rounds of (latency_min_run_time + 0.3 s)
    sizes = dict(train=256, val=64, test=64)
    one = trial_seconds({**resolved.base, "classifier": "Conv-S"}, measured(peak_mb)(
        {**resolved.base, "classifier": "Conv-S"}, None, None, torch.device("cuda"), packing=True), sizes)
    assert plan.trial_seconds == pytest.approx([one] * len(plan.trial_seconds))
    assert plan.wall_s == pytest.approx(plan.measure_s + plan_module.RAY_START_S +
                                        list_schedule([one * 2 / 1.9] * resolved.num_trials, 4)
                                        + resolved.num_trials * 5 * (resolved.base["latency_min_run_time"] + 0.3))
    assert f"recommended packing: {recommended} trials per GPU (--set gpus_per_trial={1 / recommended:g})" \
        in format_plan(plan)


def test_run_estimate_says_when_the_gpus_are_missing_and_prices_them_when_present(monkeypatch):
    resolved = resolve(get_sweep("classifier-scaling"), "quick", {**SMALL, "gpus_per_trial": 1})
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert "the trials run on GPUs this machine lacks" in plan_module.estimate_for_run(resolved, None, True)
    fake_cuda.install(monkeypatch, count=1)
    monkeypatch.setattr(plan_module, "measure_network", measured(2_000))
    assert "x 1 trials per GPU" in plan_module.estimate_for_run(resolved, None, True)

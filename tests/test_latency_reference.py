"""The torch latency backend against an independent reference: a bare perf_counter loop over model(x)
under no_grad, the two alternated and compared by their fastest round (tests/timing.py)."""
import pytest
import torch

from trainables.measure.latency import measure_latency
from trainables.models import build_model

from .timing import fastest_alternated, plain_forward_ms, within_band


@pytest.mark.parametrize("batch_size", [1, 4])
def test_torch_backend_times_what_a_plain_loop_times(batch_size):
    torch.manual_seed(0)
    model = build_model(dict(task="joint", joint_mode="integrated", unet="UNet-S", classifier="MB2.5-M"), 1, 10).eval()
    x = torch.randn(batch_size, 1, 32, 32)
    best = fastest_alternated(12, {
        "backend": lambda: {"ms": measure_latency(model, (1, 32, 32), batch_size=batch_size, backend="torch",
                                                  min_run_time=0.05, warmup=3).median_ms},
        "plain": lambda: {"ms": plain_forward_ms(model, x, min_run_time=0.05)}})
    ours, reference = best["backend"]["ms"], best["plain"]["ms"]
    assert within_band(ours, reference), (ours, reference)

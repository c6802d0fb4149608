"""benchmarks/gpu_check.py, the one script a lent GPU runs, runs through in CI as its CPU dry run: a script
that breaks between GPU loans would otherwise be found only when the next loan's minutes are running.
What it measures on a GPU stays untested here (docs/testing.md, "GPU branches")."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from trainables.models.catalog import paper_model_configs

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"


@pytest.mark.slow
def test_the_dry_run_times_every_paper_model_trains_searches_and_checks_the_table():
    done = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--small"], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(result["paper_models"]) == set(paper_model_configs())
    assert all(0 < v["fp32"] < 1000 for v in result["paper_models"].values())
    joint = result["joint"]
    assert joint["device"] == "cpu" and joint["latency_batch_size"] == 1 and 0 <= joint["test_acc"] <= 100
    assert math.isfinite(joint["test_psnr_s0.5"]) and joint["train_images_per_s"] > 0
    nas = result["nas"]
    assert nas["arch"] and nas["target_latency_ms"] > 0 and nas["latency_ms"] > 0 and nas["latency_device"]
    lut = result["lut_accuracy"]  # the table's accuracy part: 4 networks, their prediction errors
    assert lut["benchmark"] == "lut_accuracy" and lut["networks"] == 4 and 0 <= lut["median_error"] < 10


@pytest.mark.may_skip_in_ci  # CI has no GPU, so there it always runs
@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU machine the default runs the real check")
def test_without_a_gpu_the_default_refuses_in_one_line():
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stderr.strip() == "no CUDA device here; pass --device cpu --small for a dry run"

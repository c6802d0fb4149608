"""Inputs that slipped through before: each is refused in one line with exit 2, before Ray starts."""
import os
import subprocess
import sys

import pytest

from search_spaces import resolve
from search_spaces.base import parse_override
from orchestrator.cli.user_sweeps import load_sweep

SWEEP = ("from search_spaces import Sweep\n"
         "TINY = Sweep(name='tiny', trainable='classifier', grid={'lr': [0.001]},\n"
         "             fixed={'classifier': 'Conv-S', 'dataset': 'synthetic', 'train_size': 256}, seeds=1)\n")


@pytest.mark.parametrize("args,message", [
    (["--set", "batch_size=512"], "batch_size=512 is larger than the train split (256 images)"),
    (["--set", "seed=3"], "seed is set per trial (0..seeds-1); use seeds=N"),
    (["--set", "data_dir="], "field 'data_dir' = '' must be a folder (not empty)"),
    (["--set", "latency_min_run_time=100000"], "field 'latency_min_run_time' = 100000 must be in (0, 600] seconds"),
    (["--set", "image_size=100000"], "field 'image_size' = 100000 must be in [1, 4096]"),
    (["--tracking-uri", "sqlite://x"], "tracking URI 'sqlite://x': use sqlite:///ABSOLUTE/PATH.db"),
    (["--storage", "s3://bucket/jdnas", "--s3-endpoint", "127.0.0.1:9"],
     "S3 endpoint '127.0.0.1:9': give its scheme, e.g. http://127.0.0.1:9"),
])
def test_a_bad_run_input_is_one_line_and_exit_2_before_ray(tmp_path, args, message):
    (tmp_path / "tiny.py").write_text(SWEEP)
    result = subprocess.run([sys.executable, "-m", "orchestrator.cli.main", "run", f"{tmp_path}/tiny.py:TINY",
                             "--workdir", str(tmp_path), *args], capture_output=True, text=True, timeout=240)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    line, = result.stderr.strip().splitlines()  # one line, no traceback
    assert line.startswith("jdnas: error: ") and message in line, line
    assert not (tmp_path / ".ray").exists() and "trials of" not in result.stdout  # refused before Ray


@pytest.mark.parametrize("argv,message", [
    (["run", "nas-beta", "--set", "lut_device=nope"], "lut_device='nope' has no imported latency table here"),
    (["plan", "classifier-scaling", "--steps", "0"], "--steps 0: time at least 1 training step"),
    (["models", "--size", "0"], "--size 0: the table's classifiers need images of at least 32 x 32"),
])
def test_other_commands_refuse_bad_numbers_in_one_line(tmp_path, argv, message):
    result = subprocess.run([sys.executable, "-m", "orchestrator.cli.main", *argv, *(["--workdir", str(tmp_path)]
                             if argv[0] != "models" else [])], capture_output=True, text=True, timeout=240,
                            env={**os.environ, "JDNAS_LUT_CACHE": str(tmp_path / "lut")})
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    line, = result.stderr.strip().splitlines()
    assert message in line, line


def test_a_float_without_leading_zero_is_a_float(tmp_path):
    assert parse_override("lr=.001") == ("lr", 0.001) and parse_override("lr=2.") == ("lr", 2.0)
    assert parse_override("label=1_0") == ("label", "1_0") and parse_override("x=nan") == ("x", "nan")
    (tmp_path / "tiny.py").write_text(SWEEP)
    resolved = resolve(load_sweep(f"{tmp_path}/tiny.py:TINY"), "quick", dict([parse_override("weight_decay=.01")]))
    assert resolved.base["weight_decay"] == 0.01

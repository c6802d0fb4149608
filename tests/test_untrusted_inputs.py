"""Untrusted input is data: names, imported latency tables and dataset files are checked before anything
runs. Each bad input is one line on stderr and exit 2, before Ray starts; a crafted name cannot widen an
MLflow search; a data pickle is never loaded (CIFAR-10 from its binary release)."""
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient

from orchestrator.run.sweep import ray_temp_dir
from orchestrator.tracking.runs import SweepTracker
from trainables.nas.probe_schema import read_probe


def jdnas(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "orchestrator.cli.main", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd, env={**os.environ, **(env or {})})


def assert_one_line_exit_2(result, *fragments):
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith("jdnas: error: "), err
    for fragment in fragments:
        assert fragment in err, err


@pytest.mark.parametrize("name", ["", "../escape", "a/b", "it's", "..", " lead"])
def test_a_bad_run_name_is_refused_before_ray(tmp_path, name):
    result = jdnas("run", "classifier-scaling", "--name", name, "--workdir", str(tmp_path))
    assert_one_line_exit_2(result, "--name")
    assert not Path(ray_temp_dir(tmp_path)).exists() and not (tmp_path / "mlflow.db").exists()


def test_a_sweep_name_with_a_quote_is_refused_before_ray(tmp_path):
    (tmp_path / "q.py").write_text("from search_spaces import Sweep\nQ = Sweep(name=\"x' or '1\", trainable='denoiser')\n")
    result = jdnas("run", f"{tmp_path}/q.py:Q", "--workdir", str(tmp_path))
    assert_one_line_exit_2(result, "sweep name")
    assert not Path(ray_temp_dir(tmp_path)).exists()


def test_submit_refuses_a_password_in_the_tracking_uri_and_a_home_folder_project(tmp_path):
    result = jdnas("submit", "unet-width", "--address", "http://127.0.0.1:9", "--tracking-uri",
                   "http://alice:hunter2-secret@127.0.0.1:5000")
    assert_one_line_exit_2(result, "http://alice:***@127.0.0.1:5000", "MLFLOW_TRACKING_PASSWORD")
    assert "hunter2" not in result.stderr + result.stdout
    home = tmp_path / "home"
    home.mkdir()
    subprocess.run(["git", "init", "-q", str(home)], check=True)  # a home folder kept in git (dotfiles)
    (home / "mine.py").write_text("from search_spaces import Sweep\nMINE = Sweep(name='mine', trainable='classifier', "
                                  "fixed={'classifier': 'Conv-S', 'dataset': 'synthetic'})\n")
    result = jdnas("submit", f"{home}/mine.py:MINE", "--address", "http://127.0.0.1:9", env={"HOME": str(home)})
    assert_one_line_exit_2(result, "is your home folder")


def probe_table(**changes) -> dict:
    table = {"format": "jdnas-lut-probe/1", "manifest_sha256": "0" * 64, "times_ms": {"onnx/0000_null.onnx": 0.01},
             "device": {"name": "pi", "onnxruntime": "1.32.0", "threads": 1}, "rounds": 5, "min_run_time": 0.2}
    for key, value in changes.items():
        target, _, field = key.partition("__")
        if field:
            table[target][field] = value
        else:
            table[target] = value
    return table


BAD_TABLES = [  # (changes, what the error names); the CLI runs for the first three, read_probe for all
    ({"times_ms__onnx/0000_null.onnx": float("nan")}, "times_ms['onnx/0000_null.onnx'] = nan"),
    ({"times_ms__onnx/0000_null.onnx": True}, "= True must be a finite positive number"),
    ({"times_ms": None}, "key 'times_ms' missing"),
    ({"times_ms__onnx/0000_null.onnx": float("inf")}, "times_ms['onnx/0000_null.onnx'] = inf"),
    ({"times_ms__onnx/0000_null.onnx": -1.0}, "= -1.0 must be a finite positive number"),
    ({"times_ms__onnx/0000_null.onnx": 0}, "= 0 must be a finite positive number"),
    ({"device__threads": True}, "device.threads = True"),
    ({"device__name": 3}, "device.name"),
    ({"rounds": float("nan")}, "rounds = nan"),
]


@pytest.mark.parametrize("changes,key", BAD_TABLES)
def test_read_probe_names_the_file_and_the_bad_key(tmp_path, changes, key):
    probe = tmp_path / "probe-pi.json"
    probe.write_text(json.dumps(probe_table(**changes)))
    with pytest.raises(ValueError) as err:
        read_probe(probe)
    assert str(probe) in str(err.value) and key in str(err.value) and "\n" not in str(err.value)
    probe.write_text(json.dumps(probe_table()))
    assert read_probe(probe)["times_ms"] == {"onnx/0000_null.onnx": 0.01}  # the untouched table passes


@pytest.mark.parametrize("changes,key", BAD_TABLES[:3])
def test_an_imported_latency_table_is_schema_checked(tmp_path, changes, key):
    (tmp_path / "bundle").mkdir()
    (tmp_path / "bundle" / "manifest.json").write_text("{}")
    probe = tmp_path / "probe-pi.json"
    probe.write_text(json.dumps(probe_table(**changes)))  # json writes NaN / Infinity, as a sloppy probe could
    result = jdnas("lut", "import", str(tmp_path / "bundle"), str(probe), "--cache-dir", str(tmp_path / "cache"))
    assert_one_line_exit_2(result, str(probe), key)
    assert not (tmp_path / "cache").exists()


def test_a_missing_latency_table_is_one_line(tmp_path):
    (tmp_path / "bundle").mkdir()
    (tmp_path / "bundle" / "manifest.json").write_text("{}")
    result = jdnas("lut", "import", str(tmp_path / "bundle"), str(tmp_path / "nope.json"))
    assert_one_line_exit_2(result, f"probe table {tmp_path / 'nope.json'} does not exist")
    result = jdnas("lut", "import", str(tmp_path / "nothing"), str(tmp_path / "nope.json"))
    assert_one_line_exit_2(result, "holds no manifest.json")


def test_a_crafted_name_cannot_select_another_experiments_parent_run(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    victim = SweepTracker(uri, "shared", "victim-quick", None).parent_run({}, {})
    crafted = SweepTracker(uri, "shared", "nope' or tags.`jdnas.role` = 'parent", None)
    with pytest.raises(ValueError, match="holds a quote"):
        crafted.parent_run({}, {})
    client = MlflowClient(uri)
    parents = client.search_runs([client.get_experiment_by_name("shared").experiment_id])
    assert [p.info.run_id for p in parents] == [victim]  # nothing found, nothing created


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_cifar10_is_read_from_its_binary_release_and_a_pickle_in_the_data_folder_is_never_loaded(tmp_path):
    from trainables.data import DatasetNotFound, load_dataset

    marker = tmp_path / "ran"
    pickled = tmp_path / "cifar-10-batches-py"  # the python release's folder, holding a batch that runs code
    pickled.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (pickled / name).write_bytes(pickle.dumps({b"data": Payload(marker), b"labels": [1]}))
    with pytest.raises(DatasetNotFound, match="holds the python release, whose batches are pickles"):
        load_dataset("cifar10", data_dir=tmp_path)
    assert not marker.exists()

    binary = tmp_path / "cifar-10-batches-bin"  # the binary release: plain records, label byte first
    binary.mkdir()
    records = np.random.default_rng(0).integers(0, 256, (6, 2, 3073), dtype=np.uint8)
    records[:, :, 0] = [[3, 7]] * 6
    for index, name in enumerate([f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]):
        records[index].tofile(binary / name)
    dataset = load_dataset("cifar10", data_dir=tmp_path)
    assert dataset.train_images.shape == (10, 3, 32, 32) and dataset.train_labels.tolist() == [3, 7] * 5
    assert np.array_equal(dataset.test_images[1, 0].ravel(), records[5, 1, 1:1025])  # the red plane first
    assert not marker.exists()


def test_a_store_password_stays_off_the_command_line_and_out_of_printed_uris():
    from orchestrator.cluster.jobs import server_env, tracking_server_argv
    from orchestrator.secrets_masking import mask_uri, split_password

    uri = "postgresql://mlflow:pa55-w0rd@127.0.0.1:5432/mlflow"
    store_uri, env = split_password(uri)
    command = tracking_server_argv(store_uri, "s3://bucket/art")
    assert "pa55-w0rd" not in " ".join(command) and "postgresql://mlflow@127.0.0.1:5432/mlflow" in command
    assert env == {"PGPASSWORD": "pa55-w0rd"}  # libpq reads it from there
    assert mask_uri(uri) == "postgresql://mlflow:***@127.0.0.1:5432/mlflow"
    assert split_password("sqlite:////tmp/x/mlflow.db") == ("sqlite:////tmp/x/mlflow.db", {})  # nothing moves
    assert server_env()  # the server's own environment is built apart from the password's


def test_the_jobs_command_line_keeps_every_word_whole():
    from orchestrator.cluster.jobs import run_command

    line = run_command("my dir/sweep.py:X", "quick", ["classifier=Conv-S,MB1-S", "note=a b"], tracking_uri=None,
                       storage="/data/my results", s3_endpoint=None, workdir="~/my dir", scheduler=None,
                       allow_local_storage=False, name="my run; echo injected")
    # /bin/sh (Ray runs a job's entrypoint with shell=True) splits and expands it: one word per part, ~ expanded
    words = subprocess.run(["/bin/sh", "-c", f"printf '%s\\n' {line}"], capture_output=True, text=True).stdout.splitlines()
    home = os.path.expanduser("~")
    assert words == ["jdnas", "run", "my dir/sweep.py:X", "--address", "auto", "--preset", "quick", "--workdir",
                     f"{home}/my dir", "--set", "classifier=Conv-S,MB1-S", "--set", "note=a b", "--storage",
                     "/data/my results", "--name", "my run; echo injected"]

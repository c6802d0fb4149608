"""The environment variables README and --help promise: $JDNAS_TRACKING_URI, $JDNAS_STORAGE and
$JDNAS_S3_ENDPOINT (where a run's records go), $JDNAS_DATA (the data folder) and $JDNAS_DATA_MIRROR (where
downloads come from), and `--set exclusive_latency=true|false`. Every test sets its variables with
monkeypatch or a child's env, so none reaches the next test."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.cluster.local import free_port
from orchestrator.records.locations import storage_for, tracking_uri_for
from trainables.data.download import SOURCES
from trainables.data.registry import DATASETS

from .conftest import FASHION_MNIST, needs_fashion_mnist
from .servers import FileServer


def jdnas(*args, env, timeout=300):
    return subprocess.run([sys.executable, "-m", "orchestrator.cli.main", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **env})


def test_tracking_uri_from_the_environment_is_the_one_a_run_checks(tmp_path):
    """Nothing listens on the port: the run refuses it by name, in one line, exit 2 (so the variable was read)."""
    uri = f"http://127.0.0.1:{free_port()}"
    result = jdnas("run", "classifier-scaling", "--workdir", str(tmp_path), "--set", "dataset=synthetic",
                   env={"JDNAS_TRACKING_URI": uri})
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert f"MLflow tracking server {uri} is unreachable" in result.stderr
    assert not (tmp_path / "mlflow.db").exists()


def test_tracking_and_storage_flags_win_over_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("JDNAS_TRACKING_URI", "http://127.0.0.1:1")
    monkeypatch.setenv("JDNAS_STORAGE", str(tmp_path / "shared"))
    assert tracking_uri_for(None, tmp_path) == "http://127.0.0.1:1"
    assert tracking_uri_for("sqlite:////x/m.db", tmp_path) == "sqlite:////x/m.db"
    assert storage_for(None, None, tmp_path).uri == str(tmp_path / "shared")
    assert storage_for(str(tmp_path / "flag"), None, tmp_path).uri == str(tmp_path / "flag")
    monkeypatch.delenv("JDNAS_TRACKING_URI")
    monkeypatch.delenv("JDNAS_STORAGE")
    assert tracking_uri_for(None, tmp_path) == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert storage_for(None, None, tmp_path).uri == str((tmp_path / "results").resolve())


def test_s3_storage_and_its_endpoint_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("JDNAS_STORAGE", "s3://bucket/prefix")
    monkeypatch.setenv("JDNAS_S3_ENDPOINT", "http://127.0.0.1:9000")
    storage = storage_for(None, None, tmp_path)
    assert (storage.uri, storage.path) == ("s3://bucket/prefix", "bucket/prefix")
    settings = storage.filesystem.__reduce__()[1][0]  # what pyarrow's S3FileSystem was built with
    assert (settings["endpoint_override"], settings["scheme"]) == ("127.0.0.1:9000", "http")


def test_data_folder_from_the_environment(tmp_path):
    """`jdnas data list` looks in $JDNAS_DATA (finding a dataset needs only its files to be there)."""
    folder = tmp_path / "data" / "cifar10" / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    for name in DATASETS["cifar10"].files:
        (folder / name).write_bytes(b"")
    result = jdnas("data", "list", "cifar10", env={"JDNAS_DATA": str(tmp_path / "data")})
    assert result.returncode == 0, result.stdout + result.stderr
    assert str(folder) in result.stdout and str(tmp_path / "data") in result.stdout
    missing = jdnas("data", "list", "cifar10", env={"JDNAS_DATA": str(tmp_path / "elsewhere")})
    assert missing.returncode == 1  # README: a named dataset that is missing exits 1


@pytest.mark.slow  # 30 MB through a loopback server
@needs_fashion_mnist
def test_downloads_come_from_the_mirror_the_environment_names(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    names = [f.filename for f in SOURCES["fashion-mnist"].files]
    for name in names:
        shutil.copyfile(Path(FASHION_MNIST) / name, mirror / name)
    with FileServer(mirror) as server:
        result = jdnas("data", "download", "fashion-mnist", "--dir", str(tmp_path / "d"),
                       env={"JDNAS_DATA_MIRROR": server.url})
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(n for n, _, _ in server.requests) == sorted(names)  # every file, from this server
    assert all((tmp_path / "d" / "fashion-mnist" / n).read_bytes() == (mirror / n).read_bytes() for n in names)


@pytest.mark.parametrize("value,gpus,wanted", [("true", 0, True), ("false", 0.5, False), (None, 0.5, True),
                                               (None, 0, True), ("false", 0, False)])
def test_exclusive_latency_setting(value, gpus, wanted):
    """`--set exclusive_latency=true|false` turns the phase on or off; unset, it runs for every sweep of fixed
    networks (issue 22: one interleaved phase makes a network's latency comparable across its seeds)."""
    from orchestrator.run.exclusive_latency import wanted as exclusive_phase
    from orchestrator.cli.user_sweeps import parse_overrides
    from search_spaces import get_sweep, resolve

    sets = [f"gpus_per_trial={gpus}"] + ([f"exclusive_latency={value}"] if value else [])
    assert exclusive_phase(resolve(get_sweep("classifier-scaling"), "quick", parse_overrides(sets))) is wanted

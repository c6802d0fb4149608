"""`jdnas data download` against a real HTTP server on 127.0.0.1 (a cut transfer resumes with Range, a
corrupt file is refused), `jdnas data list`, and a real run on the downloaded copy."""
import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from trainables.data.download import SOURCES

from .conftest import FASHION_MNIST, needs_fashion_mnist
from .servers import FileServer

NAMES = [f.filename for f in SOURCES["fashion-mnist"].files]


def jdnas(*args, timeout=300, env=None):
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


@pytest.fixture
def mirror(tmp_path):
    """The published Fashion-MNIST files (Debian ships the upstream payloads) in a folder to serve."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    for name in NAMES:
        shutil.copyfile(FASHION_MNIST / name, folder / name)
    return folder


def served(server, name):
    return [(ranged, sent) for n, ranged, sent in server.requests if n == name]


@needs_fashion_mnist
def test_download_resumes_cut_and_partial_files_and_gets_the_published_bytes(tmp_path, mirror):
    target = tmp_path / "data" / "fashion-mnist"
    target.mkdir(parents=True)
    # a previous run stopped after 100 kB of the test images
    partial = (mirror / "t10k-images-idx3-ubyte.gz").read_bytes()[:100_000]
    (target / "t10k-images-idx3-ubyte.gz.part").write_bytes(partial)
    with FileServer(mirror, cut_once={"train-images-idx3-ubyte.gz"}) as server:
        result = jdnas("data", "download", "fashion-mnist", "--dir", str(tmp_path / "data"), "--mirror", server.url)
    assert result.returncode == 0, result.stderr
    for name in NAMES:
        assert (target / name).read_bytes() == (mirror / name).read_bytes(), name
        assert not (target / f"{name}.part").exists()
    size = (mirror / "train-images-idx3-ubyte.gz").stat().st_size
    first, second = served(server, "train-images-idx3-ubyte.gz")
    assert first == (None, size // 2)                                   # cut half-way
    assert second == (f"bytes={size // 2}-", size - size // 2)          # the rest only, not the whole file again
    assert served(server, "t10k-images-idx3-ubyte.gz") == [
        ("bytes=100000-", (mirror / "t10k-images-idx3-ubyte.gz").stat().st_size - 100_000)]
    assert "resuming" in result.stderr and "use it: jdnas run SWEEP --set dataset=fashion-mnist" in result.stdout

    listed = jdnas("data", "list", "fashion-mnist", "--dir", str(tmp_path / "data"))
    assert listed.returncode == 0 and f"found in {target}" in listed.stdout

    with FileServer(mirror) as server:  # a second run checks what is there and fetches nothing
        again = jdnas("data", "download", "fashion-mnist", "--dir", str(tmp_path / "data"), "--mirror", server.url)
    assert again.returncode == 0 and server.requests == []


@needs_fashion_mnist
def test_a_corrupt_file_is_refused_and_removed(tmp_path, mirror):
    rng = np.random.default_rng(0)
    with gzip.open(mirror / "train-labels-idx1-ubyte.gz", "wb") as f:  # right name, wrong payload
        f.write(rng.integers(0, 256, 60_008, dtype=np.uint8).tobytes())
    with FileServer(mirror) as server:
        result = jdnas("data", "download", "fashion-mnist", "--dir", str(tmp_path / "data"), "--mirror", server.url)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(
        "jdnas: error: checksum mismatch for train-labels-idx1-ubyte.gz (sha256 ")
    folder = tmp_path / "data" / "fashion-mnist"
    assert not (folder / "train-labels-idx1-ubyte.gz").exists() and not list(folder.glob("*.part"))


def test_missing_files_and_bad_names(tmp_path):
    with FileServer(tmp_path) as server:  # an empty mirror: HTTP 404
        result = jdnas("data", "download", "cifar10", "--dir", str(tmp_path / "d"), "--mirror", server.url)
    assert result.returncode == 1 and "HTTP 404" in result.stderr
    unknown = jdnas("data", "download", "imagenet")
    assert unknown.returncode == 2 and "downloadable: fashion-mnist, stl10, cifar10" in unknown.stderr
    listed = jdnas("data", "list", "stl10", "--dir", str(tmp_path))
    assert listed.returncode == 1 and "jdnas data download stl10 --dir" in listed.stdout

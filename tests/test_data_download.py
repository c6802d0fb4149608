"""`jdnas data download` against a real HTTP server on 127.0.0.1 (a cut transfer resumes with Range, a
corrupt file is refused), `jdnas data list`, and a real run on the downloaded copy."""
import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from trainables.data.download import SOURCES

from .conftest import FASHION_MNIST, needs_fashion_mnist
from .servers import FileServer

NAMES = [f.filename for f in SOURCES["fashion-mnist"].files]


def jdnas(*args, timeout=300, env=None):
    return subprocess.run([sys.executable, "-m", "orchestrator.cli.main", *args], capture_output=True, text=True,
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
def test_a_server_that_ignores_range_sends_the_whole_file_and_it_is_not_appended_to_the_part(tmp_path, mirror):
    target = tmp_path / "data" / "fashion-mnist"
    target.mkdir(parents=True)
    name = "t10k-labels-idx1-ubyte.gz"
    (target / f"{name}.part").write_bytes((mirror / name).read_bytes()[:1000])  # a cut earlier transfer
    with FileServer(mirror, ignore_range=True) as server:
        result = jdnas("data", "download", "fashion-mnist", "--dir", str(tmp_path / "data"), "--mirror", server.url)
    assert result.returncode == 0, result.stderr
    assert served(server, name) == [("bytes=1000-", (mirror / name).stat().st_size)]  # asked for the rest, got all
    for each in NAMES:
        assert (target / each).read_bytes() == (mirror / each).read_bytes(), each


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


RUN_SETS = ["--set", "seeds=1", "--set", "epochs=1", "--set", "train_size=256", "--set", "val_size=64",
            "--set", "test_size=128", "--set", "batch_size=32", "--set", "latency_min_run_time=0.05"]


@pytest.mark.slow
@needs_fashion_mnist
def test_a_run_on_the_downloaded_copy_and_its_report_rebuilt_from_parquet(tmp_path, mirror):
    data_dir, workdir = tmp_path / "data", tmp_path / "work"
    with FileServer(mirror) as server:
        assert jdnas("data", "download", "fashion-mnist", "--dir", str(data_dir), "--mirror", server.url).returncode == 0
    sets = [*RUN_SETS, "--set", f"data_dir={data_dir}", "--set", "classifier=Conv-S,MB1-S"]
    run = jdnas("run", "classifier-scaling", "--workdir", str(workdir), *sets, timeout=560)  # + 300: < 900 s
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert f"fashion-mnist from {data_dir / 'fashion-mnist'}" in run.stdout
    configs = list((workdir / "results").glob("*/*/checkpoint_*/config.json"))
    assert configs and {json.loads(p.read_text())["data"]["source"] for p in configs} == {str(data_dir / "fashion-mnist")}

    from orchestrator.records.results import read_parquet
    from orchestrator.records.storage import resolve_storage
    from trainables.data import NOISE_LEVELS

    experiment = next((workdir / "results").iterdir()).name
    rows = read_parquet(resolve_storage(workdir / "results"), experiment)
    assert len(rows) == 2 and {r["status"] for r in rows} == {"TERMINATED"}
    for row in rows:  # the headline accuracy is the mean over the 11 noise levels
        per_sigma = [row[f"test_acc_s{s:g}"] for s in NOISE_LEVELS]
        assert len(set(per_sigma)) > 1 and row["test_acc"] == pytest.approx(sum(per_sigma) / 11, abs=1e-9)
        assert row["eval_noise_levels"] == list(NOISE_LEVELS)  # a list column comes back as a list

    in_memory = (workdir / "reports" / experiment / "report.md").read_text()  # written by the run from its rows
    (workdir / "reports" / experiment / "report.md").unlink()
    report = jdnas("report", "classifier-scaling", "--workdir", str(workdir), *sets)
    assert report.returncode == 0, report.stderr
    assert (workdir / "reports" / experiment / "report.md").read_text() == in_memory
    assert "| 3 | Conv-S |" in in_memory and "| 1-3 | MB1-S |" in in_memory


@pytest.fixture
def tiny_archive(tmp_path, monkeypatch):
    """A small dataset archive (folder `tiny_binary`) on a mirror, registered as a source for this test."""
    import hashlib
    import io
    import tarfile

    from trainables.data.download import RemoteFile, Source

    mirror = tmp_path / "mirror"
    mirror.mkdir()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for i in range(3):
            data = np.random.default_rng(i).integers(0, 256, 200_000, dtype=np.uint8).tobytes()
            info = tarfile.TarInfo(f"tiny_binary/part{i}.bin")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    archive = buffer.getvalue()
    (mirror / "tiny.tar.gz").write_bytes(archive)
    remote = RemoteFile("http://example.invalid/tiny.tar.gz", "md5", hashlib.md5(archive).hexdigest())
    monkeypatch.setitem(SOURCES, "tiny", Source(files=(remote,), folder=".", size="1 MB", unpacks_to="tiny_binary"))
    return mirror, archive


def test_a_file_the_user_had_is_never_deleted(tmp_path, tiny_archive):
    from trainables.data.download import ChecksumError, download_dataset

    mirror, _ = tiny_archive
    data = tmp_path / "data"
    data.mkdir()
    (data / "tiny.tar.gz").write_bytes(b"my own notes, not an archive")
    with FileServer(mirror) as server, pytest.raises(ChecksumError, match="it was there before and is kept"):
        download_dataset("tiny", data, mirror=server.url)
    assert (data / "tiny.tar.gz").read_bytes() == b"my own notes, not an archive" and server.requests == []


def test_a_truncated_archive_it_wrote_is_fetched_again_and_unpacked_whole(tmp_path, tiny_archive):
    from trainables.data.download import download_dataset, note_written

    mirror, archive = tiny_archive
    data = tmp_path / "data"
    data.mkdir()
    (data / "tiny.tar.gz").write_bytes(archive[:len(archive) // 3])  # an earlier download, cut short
    note_written(data, "tiny.tar.gz")
    (data / ".unpacking-old").mkdir()  # and an unpack killed half-way: not the dataset
    with FileServer(mirror) as server:
        folder = download_dataset("tiny", data, mirror=server.url)
    assert [name for name, _, _ in server.requests] == ["tiny.tar.gz"]  # fetched anew, once
    assert (data / "tiny.tar.gz").read_bytes() == archive
    assert sorted(p.name for p in folder.iterdir()) == ["part0.bin", "part1.bin", "part2.bin"]
    assert (folder / "part2.bin").stat().st_size == 200_000
    assert not [p for p in data.iterdir() if p.name.startswith(".unpacking-") and p.name != ".unpacking-old"]


def test_a_damaged_archive_is_fetched_once_more_then_refused_and_never_unpacked(tmp_path, tiny_archive):
    from trainables.data.download import ChecksumError, download_dataset

    mirror, archive = tiny_archive
    (mirror / "tiny.tar.gz").write_bytes(archive[:-2000])  # a mirror serving a damaged archive under the right name

    with FileServer(mirror) as server, pytest.raises(ChecksumError, match="the file was removed"):
        download_dataset("tiny", tmp_path / "data", mirror=server.url)
    assert len(server.requests) == 2  # fetched, found damaged, fetched once more, then given up
    assert not (tmp_path / "data" / "tiny_binary").exists() and not (tmp_path / "data" / "tiny.tar.gz").exists()


def test_a_full_disk_is_named_as_such(tmp_path, tiny_archive):
    from trainables.data.download import DownloadError, download_dataset

    mirror, _ = tiny_archive
    data = tmp_path / "data"
    data.mkdir()
    (data / "tiny.tar.gz.part").symlink_to("/dev/full")  # every write: ENOSPC
    with FileServer(mirror) as server, pytest.raises(DownloadError, match=r"disk full writing .*tiny.tar.gz.part"):
        download_dataset("tiny", data, mirror=server.url)


def test_an_unpack_that_fails_half_way_leaves_no_dataset_folder(tmp_path, monkeypatch):
    """An archive that passes its checksum but whose third member cannot be unpacked (it points outside the
    folder): the first two were written, yet no `tiny_binary` appears to be taken for the dataset next time."""
    import hashlib
    import io
    import tarfile

    from trainables.data.download import RemoteFile, Source, download_dataset

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in ("tiny_binary/part0.bin", "tiny_binary/part1.bin", "../outside.bin"):
            info = tarfile.TarInfo(name)
            info.size = 4
            tar.addfile(info, io.BytesIO(b"data"))
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / "tiny.tar.gz").write_bytes(buffer.getvalue())
    remote = RemoteFile("http://example.invalid/tiny.tar.gz", "md5", hashlib.md5(buffer.getvalue()).hexdigest())
    monkeypatch.setitem(SOURCES, "tiny", Source(files=(remote,), folder=".", size="1 kB", unpacks_to="tiny_binary"))
    for _ in range(2):  # the second run must not find a half-unpacked folder "already unpacked"
        with FileServer(tmp_path / "mirror") as server, pytest.raises(tarfile.TarError):
            download_dataset("tiny", tmp_path / "data", mirror=server.url)
        assert not (tmp_path / "data" / "tiny_binary").exists()
        assert not [p for p in (tmp_path / "data").iterdir() if p.name.startswith(".unpacking-")]


def test_a_payload_file_it_wrote_that_is_no_gzip_is_fetched_again(tmp_path, monkeypatch):
    import hashlib

    from trainables.data.download import RemoteFile, Source, download_dataset, note_written

    payload = np.random.default_rng(1).integers(0, 256, 50_000, dtype=np.uint8).tobytes()
    (tmp_path / "mirror").mkdir()
    with gzip.open(tmp_path / "mirror" / "labels.gz", "wb") as f:
        f.write(payload)
    remote = RemoteFile("http://example.invalid/labels.gz", "sha256", hashlib.sha256(payload).hexdigest(), of_payload=True)
    monkeypatch.setitem(SOURCES, "tiny", Source(files=(remote,), folder="tiny", size="50 kB"))
    (tmp_path / "data" / "tiny").mkdir(parents=True)
    (tmp_path / "data" / "tiny" / "labels.gz").write_bytes(b"<html>proxy error page</html>")  # not gzip at all
    note_written(tmp_path / "data" / "tiny", "labels.gz")
    with FileServer(tmp_path / "mirror") as server:
        folder = download_dataset("tiny", tmp_path / "data", mirror=server.url)
    assert gzip.decompress((folder / "labels.gz").read_bytes()) == payload and len(server.requests) == 1


@pytest.mark.parametrize("tarfile_has_data_filter", [True, False] if hasattr(tarfile, "data_filter") else [False])
def test_an_archive_member_outside_its_folder_or_a_link_is_refused(tmp_path, monkeypatch, tarfile_has_data_filter):
    """Both ways of unpacking (tarfile's 'data' filter, or Debian 12's Python without it) refuse a member that
    climbs out of the target and a symlink, and unpack plain files."""
    from trainables.data.download import extract_data_only

    if not tarfile_has_data_filter:
        monkeypatch.delattr(tarfile, "data_filter", raising=False)

    def archive(*members: tarfile.TarInfo) -> Path:
        path = tmp_path / f"a{len(list(tmp_path.glob('*.tar')))}.tar"
        with tarfile.open(path, "w") as tar:
            for member in members:
                tar.addfile(member, io.BytesIO(b"x" * member.size) if member.isfile() else None)
        return path

    def file(name: str) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.size = 1
        return info

    link = tarfile.TarInfo("d/link")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    for bad in (file("../evil"), link):
        with tarfile.open(archive(bad)) as tar, pytest.raises(tarfile.TarError):
            extract_data_only(tar, tmp_path / "out")
    assert not (tmp_path / "evil").exists() and not (tmp_path / "out" / "d" / "link").exists()
    with tarfile.open(archive(file("d/ok.bin"))) as tar:
        extract_data_only(tar, tmp_path / "good")
    assert (tmp_path / "good" / "d" / "ok.bin").read_bytes() == b"x"


def stl10_layout(root):
    """STL-10's binary layout (each channel column-major, labels 1..10); returns (train images, labels)."""
    images = np.random.default_rng(1).integers(0, 256, (4, 3, 96, 96), dtype=np.uint8)
    folder = root / "stl10_binary"
    folder.mkdir()
    for split in ("train", "test"):
        images.transpose(0, 1, 3, 2).tofile(folder / f"{split}_X.bin")
        np.array([1, 2, 10, 3], dtype=np.uint8).tofile(folder / f"{split}_y.bin")
    return images, [0, 1, 9, 2]


def cifar10_layout(root):
    """CIFAR-10's binary release (records of a label byte and 3072 pixel bytes); returns (train images, labels)."""
    folder = root / "cifar-10-batches-bin"
    folder.mkdir()
    records = np.random.default_rng(2).integers(0, 256, (6, 2, 3073), dtype=np.uint8)
    for index, name in enumerate([f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]):
        records[index, :, 0] = [index % 10, 9]
        records[index].tofile(folder / name)
    return records[:5, :, 1:].reshape(10, 3, 32, 32), [i % 10 if j == 0 else 9 for i in range(5) for j in range(2)]


@pytest.mark.parametrize("name,layout", [("stl10", stl10_layout), ("cifar10", cifar10_layout)])
def test_the_published_archive_layout_unpacks_where_the_reader_finds_it(tmp_path, monkeypatch, name, layout):
    """The real sources' file names and unpack folders, with a small archive of the published layout (the real
    ones are 163 MB and 2.6 GB) whose checksum stands in for theirs."""
    import hashlib

    from trainables.data import load_dataset
    from trainables.data.download import RemoteFile, Source, download_dataset

    real = SOURCES[name]
    staging = tmp_path / "staging"
    staging.mkdir()
    images, labels = layout(staging)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(staging / real.unpacks_to, arcname=real.unpacks_to)
    archive = buffer.getvalue()
    remote, = real.files
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / remote.filename).write_bytes(archive)
    monkeypatch.setitem(SOURCES, name, Source(files=(RemoteFile(remote.url, "md5", hashlib.md5(archive).hexdigest()),),
                                              folder=real.folder, size=real.size, unpacks_to=real.unpacks_to))
    with FileServer(tmp_path / "mirror") as server:
        folder = download_dataset(name, tmp_path / "data", mirror=server.url)
    assert folder == tmp_path / "data" / real.unpacks_to
    dataset = load_dataset(name, data_dir=tmp_path / "data")
    assert np.array_equal(dataset.train_images, images) and dataset.train_labels.tolist() == labels

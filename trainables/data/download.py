"""Checksummed downloads for users with a network. CI and tests never download."""
from __future__ import annotations

import gzip
import hashlib
import shutil
import tarfile
import urllib.request
from pathlib import Path

FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
# sha256 of the *decompressed* IDX payloads: valid for the upstream .gz files and Debian's repack alike.
FASHION_MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
# (url, md5 of the archive, folder the archive unpacks to)
ARCHIVES = {
    "stl10": ("http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz",
              "91f7769df0f17e558f3565bffb0c7dfb", "stl10_binary"),
    "cifar10": ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                "c58f30108f718f92721af3b95e74349a", "cifar-10-batches-py"),
}


def _fetch(url: str, dest: Path) -> None:
    tmp = dest.with_suffix(dest.suffix + ".part")
    print(f"downloading {url} -> {dest}", flush=True)
    with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as f:
        shutil.copyfileobj(response, f, length=1 << 20)
    tmp.rename(dest)


def _digest(path: Path, algorithm: str, decompress: bool = False) -> str:
    h = hashlib.new(algorithm)
    with (gzip.open if decompress else open)(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download_dataset(name: str, data_dir: Path) -> Path:
    """Fetch and verify a dataset into data_dir; returns the folder the reader expects."""
    data_dir = Path(data_dir).expanduser()
    if name == "fashion-mnist":
        folder = data_dir / "fashion-mnist"
        folder.mkdir(parents=True, exist_ok=True)
        for filename, sha256 in FASHION_MNIST_FILES.items():
            path = folder / filename
            if not path.exists():
                _fetch(FASHION_MNIST_URL + filename, path)
            if _digest(path, "sha256", decompress=True) != sha256:
                path.unlink()
                raise RuntimeError(f"checksum mismatch for {filename}; the corrupt file was removed, try again")
        return folder
    if name not in ARCHIVES:
        raise ValueError(f"no download known for dataset {name!r}; downloadable: fashion-mnist, {', '.join(ARCHIVES)}")
    url, md5, unpacked = ARCHIVES[name]
    data_dir.mkdir(parents=True, exist_ok=True)
    archive = data_dir / url.rsplit("/", 1)[1]
    if not (data_dir / unpacked).exists():
        if not archive.exists():
            _fetch(url, archive)
        if _digest(archive, "md5") != md5:
            archive.unlink()
            raise RuntimeError(f"checksum mismatch for {archive.name}; the corrupt file was removed, try again")
        with tarfile.open(archive) as tar:
            tar.extractall(data_dir, filter="data")
    return data_dir / unpacked

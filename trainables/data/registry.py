"""One registry for every dataset: name -> loader returning an in-memory `ImageDataset` (uint8).

Loaded datasets are cached per process, so a Ray worker or a test reads the files once.
A missing dataset raises `DatasetNotFound` saying where we looked and how to get it.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from . import readers
from .sources import RemoteFile, Source

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                         "Sneaker", "Bag", "Ankle boot")
STL10_CLASSES = ("airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


class DatasetNotFound(FileNotFoundError):
    pass


@dataclass(frozen=True)
class ImageDataset:
    """Train and test images as uint8 (N, C, H, W) numpy arrays (zero-copy into torch and Ray)."""
    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    classes: tuple[str, ...]
    source: str

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_images.shape[1:])

    def tensors(self, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = (self.train_images, self.train_labels) if split == "train" else (self.test_images, self.test_labels)
        return torch.from_numpy(images), torch.from_numpy(labels)


def default_data_dir() -> Path:
    return Path(os.environ.get("JDNAS_DATA", "~/.cache/jdnas/data")).expanduser()


def search_folders(name: str, data_dir: Path) -> list[Path]:
    """Where an on-disk dataset's reader looks, in order (first match wins)."""
    return [data_dir / folder for folder in DATASETS[name].folders]


def locate(name: str, data_dir: Path) -> Path | None:
    """The folder the reader of an on-disk dataset would read, or None (without reading anything)."""
    return _first_existing(search_folders(name, data_dir), list(DATASETS[name].files))


def _first_existing(candidates: list[Path], required: list[str]) -> Path | None:
    return next((c for c in candidates if all((c / r).exists() for r in required)), None)


def located(name: str, data_dir: Path, files: str, get_it: str) -> Path:
    """The folder holding `name`'s files, else a one-line error naming where it looked and how to get them."""
    candidates = search_folders(name, data_dir)
    found = _first_existing(candidates, list(DATASETS[name].files))
    if found is None:
        raise DatasetNotFound(f"{name} not found; looked for {files} in " + ", ".join(str(c) for c in candidates)
                              + f". Get it with {get_it}.")
    return found


def load_fashion_mnist(data_dir: Path) -> ImageDataset:
    required = DATASETS["fashion-mnist"].files
    found = located("fashion-mnist", data_dir, "the four IDX .gz files",
                    "`sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu) or "
                    f"`jdnas data download fashion-mnist --dir {data_dir}` (needs a network)")
    images = [readers.read_idx(found / f)[:, None] for f in required[::2]]
    labels = [readers.read_idx(found / f).astype(np.int64) for f in required[1::2]]
    return ImageDataset("fashion-mnist", images[0], labels[0], images[1], labels[1], FASHION_MNIST_CLASSES, str(found))


def load_stl10(data_dir: Path) -> ImageDataset:
    found = located("stl10", data_dir, "train_X.bin/train_y.bin/test_X.bin/test_y.bin",
                    f"`jdnas data download stl10 --dir {data_dir}` (2.6 GB, needs a network)")
    train = readers.read_stl10_split(found, "train")
    test = readers.read_stl10_split(found, "test")
    return ImageDataset("stl10", *train, *test, STL10_CLASSES, str(found))


def load_cifar10(data_dir: Path) -> ImageDataset:
    """CIFAR-10's binary release (cifar-10-batches-bin). A python release found instead is named, not read:
    its batches are pickles, and jdnas never unpickles a data file."""
    try:
        found = located("cifar10", data_dir, "data_batch_1..5.bin and test_batch.bin (the binary release)",
                        f"`jdnas data download cifar10 --dir {data_dir}` (needs a network)")
    except DatasetNotFound as missing:
        pickled = [d for d in (data_dir / "cifar-10-batches-py", data_dir / "cifar10" / "cifar-10-batches-py")
                   if (d / "data_batch_1").is_file()]
        if pickled:
            raise DatasetNotFound(f"{missing} ({pickled[0]} holds the python release, whose batches are pickles: "
                                  "jdnas reads only the binary release, cifar-10-binary.tar.gz)") from None
        raise
    train = readers.read_cifar_binary([found / f"data_batch_{i}.bin" for i in range(1, 6)])
    test = readers.read_cifar_binary([found / "test_batch.bin"])
    return ImageDataset("cifar10", *train, *test, CIFAR10_CLASSES, str(found))


def load_image_folder(data_dir: Path, image_size: int = 96, channels: int = 3) -> ImageDataset:
    """data_dir/train/<class>/* and data_dir/{test,val}/<class>/* (e.g. an ImageNet-100 subset)."""
    test_dir = next((data_dir / s for s in ("test", "val") if (data_dir / s).is_dir()), None)
    if not (data_dir / "train").is_dir() or test_dir is None:
        raise DatasetNotFound(
            f"imagefolder expects {data_dir}/train/<class>/ and {data_dir}/test/<class>/ (or val/); "
            "point --set data_dir=... at such a tree.")
    train_x, train_y, classes = readers.read_image_folder(data_dir / "train", image_size, channels=channels)
    test_x, test_y, _ = readers.read_image_folder(test_dir, image_size, classes, channels=channels)
    return ImageDataset("imagefolder", train_x, train_y, test_x, test_y, tuple(classes), str(data_dir))


def make_synthetic(image_size: int = 32, channels: int = 3, num_classes: int = 10, train_size: int = 2000,
                   test_size: int = 500, seed: int = 0) -> ImageDataset:
    """Procedural, seeded images: each class is an oriented sinusoidal grating with its own frequency
    and colour, at a random phase and contrast, so classifiers and denoisers have something to learn."""
    g = torch.Generator().manual_seed(seed)
    n = train_size + test_size
    labels = torch.randint(num_classes, (n,), generator=g)
    angle = labels.float() * torch.pi / num_classes
    freq = 2 * torch.pi * (1.5 + (labels % 3).float()) / image_size
    phase = torch.rand(n, generator=g) * 2 * torch.pi
    contrast = 0.25 + 0.2 * torch.rand(n, generator=g)
    yy, xx = torch.meshgrid(torch.arange(image_size).float(), torch.arange(image_size).float(), indexing="ij")
    proj = (xx[None] * torch.cos(angle)[:, None, None] + yy[None] * torch.sin(angle)[:, None, None])
    wave = torch.sin(freq[:, None, None] * proj + phase[:, None, None])
    colour = torch.rand(num_classes, channels, generator=g) * 0.6 + 0.4
    images = 0.5 + contrast[:, None, None, None] * wave[:, None] * colour[labels][:, :, None, None]
    images = (images.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    labels = labels.numpy().astype(np.int64)
    return ImageDataset("synthetic", images[:train_size], labels[:train_size], images[train_size:],
                        labels[train_size:], tuple(f"class{i}" for i in range(num_classes)), f"synthetic(seed={seed})")


@dataclass(frozen=True)
class DatasetEntry:
    """Everything jdnas knows of one dataset, in one place: how it loads, the input it gives, where its files are
    looked for and where they are downloaded from."""
    name: str
    load: Callable[..., ImageDataset]
    native_size: int                     # image size without `image_size` (imagefolder, synthetic: their default)
    native_channels: int | None = None   # None: the `channels` field (imagefolder, synthetic take it as an option)
    files: tuple[str, ...] = ()          # what its on-disk reader needs
    folders: tuple[str, ...] = ()        # where (under the data folder, or absolute) it looks, first match wins
    source: Source | None = None         # its public download (`jdnas data download NAME`)
    note: str = ""                       # for datasets without files of their own: what `jdnas data list` says
    reads_folder: bool = True            # False: made on the fly (synthetic), no data folder

    @property
    def takes_shape(self) -> bool:
        """Size and channels are options of its loader, not properties of files."""
        return self.native_channels is None


_FASHION = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
DATASETS: dict[str, DatasetEntry] = {e.name: e for e in (
    DatasetEntry("fashion-mnist", load_fashion_mnist, 28, 1,
                 files=("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                        "t10k-labels-idx1-ubyte.gz"),
                 folders=("fashion-mnist", "", str(DEBIAN_FASHION_MNIST)),
                 source=Source(files=(
                     RemoteFile(_FASHION + "train-images-idx3-ubyte.gz", "sha256",
                                "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", of_payload=True),
                     RemoteFile(_FASHION + "train-labels-idx1-ubyte.gz", "sha256",
                                "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", of_payload=True),
                     RemoteFile(_FASHION + "t10k-images-idx3-ubyte.gz", "sha256",
                                "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", of_payload=True),
                     RemoteFile(_FASHION + "t10k-labels-idx1-ubyte.gz", "sha256",
                                "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", of_payload=True),
                 ), folder="fashion-mnist", size="30 MB")),
    DatasetEntry("stl10", load_stl10, 96, 3, files=("train_X.bin", "train_y.bin", "test_X.bin", "test_y.bin"),
                 folders=("stl10_binary", "stl10/stl10_binary", ""),
                 source=Source(files=(RemoteFile("http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz", "md5",
                                                 "91f7769df0f17e558f3565bffb0c7dfb"),),
                               folder=".", size="2.6 GB", unpacks_to="stl10_binary")),
    # the binary release (plain records), not the python one (pickles): no data file is ever unpickled
    DatasetEntry("cifar10", load_cifar10, 32, 3, files=(*(f"data_batch_{i}.bin" for i in range(1, 6)), "test_batch.bin"),
                 folders=("cifar-10-batches-bin", "cifar10/cifar-10-batches-bin", ""),
                 source=Source(files=(RemoteFile("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz", "md5",
                                                 "c32a1d4ab5d03f1284b67883e8d87530"),),
                               folder=".", size="162 MB", unpacks_to="cifar-10-batches-bin")),
    DatasetEntry("imagefolder", load_image_folder, 96,
                 note="your own tree: --set data_dir=DIR with DIR/train/<class>/ and DIR/test/<class>/ (or val/)"),
    DatasetEntry("synthetic", make_synthetic, 32, note="generated on the fly (no files)", reads_folder=False),
)}


def dataset_input_shape(config) -> tuple[int, int, int]:
    """(channels, size, size) the trial's model will see, known without reading the data."""
    name = config["dataset"]
    entry = DATASETS[name]
    size = config.get("image_size") or entry.native_size
    channels = entry.native_channels or config.get("channels", 3)
    return (3 if channels == 1 and config.get("grey_as_rgb") else channels), size, size


def check_dataset_name(name: str) -> None:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")


@functools.lru_cache(maxsize=4)
def _load_cached(name: str, data_dir: str | None, options: tuple) -> ImageDataset:
    entry = DATASETS[name]
    if not entry.reads_folder:
        return entry.load(**dict(options))
    return entry.load(Path(data_dir).expanduser() if data_dir else default_data_dir(), **dict(options))


def load_dataset(name: str, data_dir: str | Path | None = None, **options) -> ImageDataset:
    """Load (once per process) a registered dataset. Options: imagefolder takes image_size and
    channels; synthetic takes image_size, channels, num_classes, train_size, test_size, seed."""
    check_dataset_name(name)
    return _load_cached(name, str(data_dir) if data_dir else None, tuple(sorted(options.items())))

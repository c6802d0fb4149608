"""Readers for the on-disk dataset formats. Each returns uint8 arrays (N, C, H, W) and int64 labels.

Formats are read directly (no torchvision): IDX (Fashion-MNIST), STL-10 binary, CIFAR-10 binary (never
its python release's pickles), and class-per-folder image trees.
"""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
from PIL import Image


IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm"}


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (optionally gzipped): magic 0x0000 + dtype code + ndim, big-endian dims, data."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = bytearray(f.read())  # writable, so torch.from_numpy needs no copy and gives no warning
    if raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file (header {raw[:4].hex()})")
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">u4", count=ndim, offset=4).astype(int)
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: header says {tuple(dims)} but holds {data.size} bytes")
    return data.reshape(dims)


def read_stl10_split(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """STL-10 binary: {split}_X.bin holds 3x96x96 images in column-major order; labels are 1..10."""
    images = np.fromfile(folder / f"{split}_X.bin", dtype=np.uint8)
    if images.size % (3 * 96 * 96):
        raise ValueError(f"{folder / f'{split}_X.bin'} is truncated ({images.size} bytes)")
    images = images.reshape(-1, 3, 96, 96).transpose(0, 1, 3, 2)
    labels = np.fromfile(folder / f"{split}_y.bin", dtype=np.uint8).astype(np.int64) - 1
    if len(labels) != len(images):
        raise ValueError(f"STL-10 {split}: {len(images)} images but {len(labels)} labels")
    return np.ascontiguousarray(images), labels


def read_cifar_binary(paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10's binary release: records of 1 label byte and 3072 pixel bytes (R, G, B planes of 32x32).
    Plain bytes, nothing to unpickle: the python release's pickles are never read."""
    images, labels = [], []
    for path in paths:
        raw = np.fromfile(path, dtype=np.uint8)
        if raw.size % 3073:
            raise ValueError(f"{path}: {raw.size} bytes is not a whole number of CIFAR-10 records (1 + 3072 bytes)")
        records = raw.reshape(-1, 3073)
        labels.append(records[:, 0].astype(np.int64))
        images.append(records[:, 1:].reshape(-1, 3, 32, 32))
    return np.concatenate(images), np.concatenate(labels)


def read_image_folder(root: Path, size: int, classes: list[str] | None = None,
                      channels: int = 3) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """root/<class>/<image>: every image resized to size x size (bilinear), labels by sorted class name."""
    classes = classes or sorted(p.name for p in root.iterdir() if p.is_dir())
    if not classes:
        raise ValueError(f"{root} has no class sub-folders")
    mode = "RGB" if channels == 3 else "L"
    images, labels = [], []
    for label, name in enumerate(classes):
        files = sorted(p for p in (root / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        for path in files:
            with Image.open(path) as img:
                img = img.convert(mode).resize((size, size), Image.BILINEAR)
                array = np.asarray(img, dtype=np.uint8)
            images.append(array[None] if channels == 1 else array.transpose(2, 0, 1))
            labels.append(label)
    if not images:
        raise ValueError(f"{root} holds no images with suffixes {sorted(IMAGE_SUFFIXES)}")
    return np.stack(images), np.asarray(labels, dtype=np.int64), classes

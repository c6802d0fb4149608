"""Seeded train/val/test splits, fitted to a size the models accept, ready to share with Ray trials.

Splits depend only on the data settings (never on a trial's training seed), so one prepared copy
serves every trial of a sweep through Ray's object store.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F

from .registry import DATASETS, ImageDataset, check_dataset_name, load_dataset

FITS = ("pad", "resize")


@dataclass(frozen=True)
class DataSplits:
    train_images: np.ndarray
    train_labels: np.ndarray
    val_images: np.ndarray
    val_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    num_classes: int
    meta: dict = field(default_factory=dict)  # dataset, source, native and fitted size, fit, split sizes, seed

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_images.shape[1:])


def on_device(data: DataSplits, device: torch.device | str) -> DataSplits:
    """The splits as uint8 / int64 tensors resident on `device`: a trial then gathers, shuffles and
    augments its batches there instead of copying each one from pageable host memory (GPU trials)."""
    def place(array: np.ndarray) -> torch.Tensor:
        return torch.tensor(array).to(device)  # a copy: arrays from Ray's object store are read-only

    arrays = {name: place(getattr(data, name)) for name in ("train_images", "train_labels", "val_images",
                                                            "val_labels", "test_images", "test_labels")}
    return replace(data, **arrays)


def fit_images(images: np.ndarray, size: int, fit: str) -> np.ndarray:
    """Zero-pad (centred) or bilinearly resize uint8 (N, C, H, W) images to size x size."""
    h, w = images.shape[-2:]
    if (h, w) == (size, size):
        return images
    if fit == "pad":
        if h > size or w > size:
            raise ValueError(f"cannot pad {h}x{w} images down to {size}; use fit=resize")
        top, left = (size - h) // 2, (size - w) // 2
        return np.pad(images, ((0, 0), (0, 0), (top, size - h - top), (left, size - w - left)))
    if fit == "resize":
        out = []
        for chunk in np.array_split(images, max(1, len(images) // 4096)):
            x = torch.from_numpy(np.ascontiguousarray(chunk)).float()
            x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
            out.append(x.round().clamp(0, 255).to(torch.uint8).numpy())
        return np.concatenate(out)
    raise ValueError(f"unknown fit {fit!r}; choose one of {FITS}")


def held_out(n: int, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(held-out indices, the rest) of a seeded permutation of range(n): `fraction` of them, at least one.
    The validation split and the NAS search's architecture split are both cut this way."""
    order = rng.permutation(n)
    n_held = max(1, int(round(fraction * n)))
    return order[:n_held], order[n_held:]


def prepare_splits(dataset: ImageDataset, *, image_size: int | None = None, fit: str = "pad",
                   val_fraction: float = 0.1, train_size: int | None = None, val_size: int | None = None,
                   test_size: int | None = None, seed: int = 0) -> DataSplits:
    """Hold out `val_fraction` of the train images (seeded), optionally subsample each split, and fit sizes."""
    if fit not in FITS:
        raise ValueError(f"unknown fit {fit!r}; choose one of {FITS}")
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    rng = np.random.default_rng(seed)
    val_idx, train_idx = held_out(len(dataset.train_images), val_fraction, rng)
    if val_size is not None:
        val_idx = val_idx[:val_size]
    if train_size is not None:
        train_idx = train_idx[:train_size]
    test_idx = rng.permutation(len(dataset.test_images))
    if test_size is not None:
        test_idx = test_idx[:test_size]
    native = dataset.image_shape[-1]
    size = image_size or native
    pick = lambda images, idx: fit_images(images[np.sort(idx)], size, fit)
    meta = dict(dataset=dataset.name, source=dataset.source, native_size=native, image_size=size,
                fit="none" if size == native else fit, split_seed=seed, val_fraction=val_fraction,
                train_size=len(train_idx), val_size=len(val_idx), test_size=len(test_idx),
                channels=dataset.image_shape[0], num_classes=len(dataset.classes))
    return DataSplits(pick(dataset.train_images, train_idx), dataset.train_labels[np.sort(train_idx)],
                      pick(dataset.train_images, val_idx), dataset.train_labels[np.sort(val_idx)],
                      pick(dataset.test_images, test_idx), dataset.test_labels[np.sort(test_idx)],
                      num_classes=len(dataset.classes), meta=meta)


def grey_as_rgb(data: DataSplits) -> DataSplits:
    """One-channel splits with the channel replicated three times (R = G = B); colour splits unchanged."""
    if data.image_shape[0] != 1:
        return data
    arrays = {name: np.repeat(getattr(data, name), 3, axis=1) for name in ("train_images", "val_images", "test_images")}
    return replace(data, **arrays, meta={**data.meta, "channels": 3, "grey_as_rgb": True})


def splits_for_config(config) -> DataSplits:
    """Load the dataset named in a trial config and prepare its splits (cached loading per process)."""
    name, size, channels = config["dataset"], config.get("image_size"), config.get("channels", 3)
    check_dataset_name(name)
    entry = DATASETS[name]
    options = dict(image_size=size or entry.native_size, channels=channels) if entry.takes_shape else {}
    dataset = load_dataset(name, config.get("data_dir"), **options)
    splits = prepare_splits(dataset, image_size=size, fit=config.get("fit", "pad"),
                            val_fraction=config.get("val_fraction", 0.1), train_size=config.get("train_size"),
                            val_size=config.get("val_size"), test_size=config.get("test_size"),
                            seed=config.get("split_seed", 0))
    return grey_as_rgb(splits) if config.get("grey_as_rgb") else splits

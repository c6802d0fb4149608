"""Dataset readers on real Fashion-MNIST and on small files written here in each format; noise model."""
import gzip
import struct

import numpy as np
import pytest
import torch

from trainables.data import NOISE_LEVELS, DatasetNotFound, add_noise, eval_noise, load_dataset, prepare_splits, sample_sigmas
from trainables.data.splits import fit_images

from .conftest import FASHION_MNIST, needs_fashion_mnist



@needs_fashion_mnist
def test_real_fashion_mnist():
    ds = load_dataset("fashion-mnist", data_dir=FASHION_MNIST)  # where conftest found it
    assert ds.train_images.shape == (60000, 1, 28, 28) and ds.test_images.shape == (10000, 1, 28, 28)
    assert ds.train_images.dtype == np.uint8 and set(np.unique(ds.train_labels)) == set(range(10))
    assert np.bincount(ds.test_labels).tolist() == [1000] * 10
    assert 60 < ds.train_images.mean() < 80  # Fashion-MNIST's mean intensity is ~72.9
    images, labels = ds.tensors("test")
    assert images.dtype == torch.uint8 and labels.dtype == torch.int64


def _write_idx(path, array):
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    train, test = rng.integers(0, 256, (20, 28, 28)), rng.integers(0, 256, (6, 28, 28))
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    _write_idx(folder / "train-images-idx3-ubyte.gz", train)
    _write_idx(folder / "train-labels-idx1-ubyte.gz", np.arange(20) % 10)
    _write_idx(folder / "t10k-images-idx3-ubyte.gz", test)
    _write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.arange(6))
    ds = load_dataset("fashion-mnist", data_dir=tmp_path)
    assert np.array_equal(ds.train_images[:, 0], train) and np.array_equal(ds.test_labels, np.arange(6))
    assert ds.source == str(folder)


def test_stl10_binary(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (4, 3, 96, 96), dtype=np.uint8)  # (N, C, H, W)
    folder = tmp_path / "stl10_binary"
    folder.mkdir()
    for split in ("train", "test"):  # STL-10 stores each channel column-major
        images.transpose(0, 1, 3, 2).tofile(folder / f"{split}_X.bin")
        np.array([1, 2, 10, 3], dtype=np.uint8).tofile(folder / f"{split}_y.bin")
    ds = load_dataset("stl10", data_dir=tmp_path)
    assert np.array_equal(ds.train_images, images)
    assert ds.train_labels.tolist() == [0, 1, 9, 2] and len(ds.classes) == 10


def test_cifar10_binary(tmp_path):
    rng = np.random.default_rng(2)
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    batches = {}
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        records = rng.integers(0, 256, (3, 3073), dtype=np.uint8)
        records[:, 0] = [1, 2, 3]  # each record: its label byte, then 3072 pixel bytes
        batches[name] = records
        records.tofile(folder / name)
    ds = load_dataset("cifar10", data_dir=tmp_path)
    assert ds.train_images.shape == (15, 3, 32, 32) and ds.test_images.shape == (3, 3, 32, 32)
    assert ds.test_labels.tolist() == [1, 2, 3]
    # the red plane is the first 1024 pixel bytes of each record
    assert np.array_equal(ds.test_images[0, 0].ravel(), batches["test_batch.bin"][0, 1:1025])
    (folder / "test_batch.bin").write_bytes(batches["test_batch.bin"].tobytes()[:-5])  # a cut file
    from trainables.data.readers import read_cifar_binary  # (load_dataset caches the good copy per process)

    with pytest.raises(ValueError, match="not a whole number of CIFAR-10 records"):
        read_cifar_binary([folder / "test_batch.bin"])


def test_image_folder(tmp_path):
    from PIL import Image

    for split in ("train", "val"):
        for cls, colour in (("cat", (255, 0, 0)), ("dog", (0, 0, 255))):
            (tmp_path / split / cls).mkdir(parents=True)
            for i in range(2):
                Image.new("RGB", (40, 30), colour).save(tmp_path / split / cls / f"{i}.png")
    ds = load_dataset("imagefolder", data_dir=tmp_path, image_size=24)
    assert ds.train_images.shape == (4, 3, 24, 24) and ds.classes == ("cat", "dog")
    assert ds.train_labels.tolist() == [0, 0, 1, 1]
    assert ds.train_images[0, 0].min() == 255 and ds.train_images[3, 2].min() == 255


def test_synthetic_is_seeded_and_any_size():
    a = load_dataset("synthetic", image_size=20, channels=2, num_classes=4, train_size=50, test_size=10, seed=3)
    b = load_dataset("synthetic", image_size=20, channels=2, num_classes=4, train_size=50, test_size=10, seed=3)
    c = load_dataset("synthetic", image_size=20, channels=2, num_classes=4, train_size=50, test_size=10, seed=4)
    assert a.train_images.shape == (50, 2, 20, 20) and np.array_equal(a.train_images, b.train_images)
    assert not np.array_equal(a.train_images, c.train_images)


def test_missing_dataset_says_where_it_looked_and_how_to_get_it(tmp_path):
    with pytest.raises(DatasetNotFound, match=r"stl10.*looked.*" + str(tmp_path) + r".*jdnas data download stl10"):
        load_dataset("stl10", data_dir=tmp_path)
    with pytest.raises(DatasetNotFound, match="cifar10"):
        load_dataset("cifar10", data_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'"):
        load_dataset("imagenet")


def test_splits_are_seeded_disjoint_and_fitted():
    ds = load_dataset("synthetic", image_size=28, channels=1, train_size=200, test_size=50, seed=0)
    s1 = prepare_splits(ds, image_size=32, val_fraction=0.2, train_size=100, test_size=30, seed=5)
    s2 = prepare_splits(ds, image_size=32, val_fraction=0.2, train_size=100, test_size=30, seed=5)
    s3 = prepare_splits(ds, image_size=32, val_fraction=0.2, train_size=100, test_size=30, seed=6)
    assert s1.train_images.shape == (100, 1, 32, 32) and s1.val_images.shape == (40, 1, 32, 32)
    assert np.array_equal(s1.train_images, s2.train_images) and not np.array_equal(s1.val_images, s3.val_images)
    assert s1.meta["fit"] == "pad" and s1.meta["native_size"] == 28 and s1.meta["image_size"] == 32
    flat = lambda a: {x.tobytes() for x in a}
    assert not flat(s1.train_images) & flat(s1.val_images)
    assert np.all(s1.train_images[:, :, :2] == 0)  # 2-px zero border from padding 28 -> 32


def test_fit_images():
    x = np.full((2, 3, 10, 10), 200, np.uint8)
    assert fit_images(x, 16, "resize").shape == (2, 3, 16, 16)
    assert fit_images(x, 16, "resize").min() == 200
    with pytest.raises(ValueError, match="use fit=resize"):
        fit_images(x, 8, "pad")


def test_noise_levels_are_the_11_level_grid():
    assert NOISE_LEVELS == (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


@pytest.mark.parametrize("sigma", [0.1, 0.5, 1.0])
def test_noise_std_matches_sigma_and_is_not_clipped(sigma):
    clean = torch.full((64, 3, 32, 32), 0.5)
    noisy = add_noise(clean, sigma, torch.Generator().manual_seed(0))
    assert (noisy - clean).std().item() == pytest.approx(sigma, rel=0.02)
    assert abs((noisy - clean).mean().item()) < 0.01
    if sigma >= 0.5:
        assert noisy.min() < 0 and noisy.max() > 1  # not clipped


def test_per_image_sigmas_cover_the_grid():
    sigmas = sample_sigmas(11_000, NOISE_LEVELS, torch.device("cpu"), torch.Generator().manual_seed(0))
    counts = torch.stack([(sigmas == s).sum() for s in torch.tensor(NOISE_LEVELS)])
    assert counts.sum() == 11_000 and counts.min() > 850
    clean = torch.zeros(11_000, 1, 8, 8)
    noisy = add_noise(clean, sigmas)
    per_image_std = noisy.flatten(1).std(1)
    assert torch.allclose(per_image_std[sigmas == 0], torch.zeros(1)) and per_image_std[sigmas == 1.0].mean() > 0.9


def test_eval_noise_is_deterministic_per_level_and_chunk():
    a = eval_noise((4, 1, 8, 8), level_index=3, chunk_index=0, seed=0)
    assert torch.equal(a, eval_noise((4, 1, 8, 8), 3, 0, 0))
    assert not torch.equal(a, eval_noise((4, 1, 8, 8), 4, 0, 0))
    assert not torch.equal(a, eval_noise((4, 1, 8, 8), 3, 1, 0))


@pytest.mark.parametrize("name", ["stl10", "cifar10"])
def test_the_command_a_missing_dataset_points_to_exists(tmp_path, name):
    import re
    import shlex

    from orchestrator.cli.main import build_parser
    from orchestrator.cli.data import cmd_data_download

    with pytest.raises(DatasetNotFound) as missing:
        load_dataset(name, data_dir=tmp_path)
    command = re.search(r"`(jdnas [^`]+)`", str(missing.value)).group(1)
    args = build_parser().parse_args(shlex.split(command)[1:])  # argparse exits on an unknown command
    assert args.func is cmd_data_download and args.name == name and args.dir == str(tmp_path)


def test_grey_as_rgb_replicates_the_channel_and_noise_is_drawn_per_channel():
    from trainables.data.registry import dataset_input_shape
    from trainables.data.splits import splits_for_config

    config = dict(dataset="synthetic", image_size=16, channels=1, train_size=40, val_size=8, test_size=8)
    grey = splits_for_config(config)
    rgb = splits_for_config({**config, "grey_as_rgb": True})
    assert grey.image_shape == (1, 16, 16) and rgb.image_shape == (3, 16, 16) and rgb.meta["channels"] == 3
    for name in ("train_images", "val_images", "test_images"):
        g, c = getattr(grey, name), getattr(rgb, name)
        assert all((c[:, i] == g[:, 0]).all() for i in range(3))  # R = G = B = the grey image
    assert dataset_input_shape({**config, "grey_as_rgb": True}) == (3, 16, 16)
    noise = eval_noise((4, 3, 16, 16), 5, 0, 0)  # one draw per pixel and channel: the channels differ
    pair = torch.stack([noise[:, 0].flatten(), noise[:, 1].flatten()])
    assert not torch.equal(noise[:, 0], noise[:, 1]) and abs(float(torch.corrcoef(pair)[0, 1])) < 0.1


def test_a_dataset_is_one_registry_entry_and_the_cli_names_the_downloadable_ones():
    from orchestrator.cli.data import DOWNLOADABLE
    from trainables.config import FIELDS
    from trainables.data.download import SOURCES
    from trainables.data.registry import DATASETS

    assert DOWNLOADABLE == tuple(SOURCES) == tuple(n for n, e in DATASETS.items() if e.source)
    assert FIELDS["dataset"].choices == tuple(DATASETS)
    for entry in DATASETS.values():  # a dataset either has files to look for or says why it has none
        assert bool(entry.files) == bool(entry.folders) != bool(entry.note)

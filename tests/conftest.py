import pytest
import torch

from trainables.data import load_dataset, prepare_splits

# Tiny training settings shared by the tests that run real trainings.
TINY = dict(train_size=256, val_size=64, test_size=128, epochs=2, batch_size=32, latency_min_run_time=0.05)


@pytest.fixture(autouse=True)
def single_thread():
    """One torch thread in the test process, as in a 1-CPU trial: two OpenMP threads on a loaded 2-core
    machine spin-wait on each other and make tiny networks 10-100x slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def synthetic_splits():
    dataset = load_dataset("synthetic", image_size=16, channels=3, num_classes=4, train_size=192, test_size=64)
    return prepare_splits(dataset, val_fraction=0.25, seed=0)

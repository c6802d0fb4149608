import os

import pytest
import torch

from trainables.data import DatasetNotFound, load_dataset, prepare_splits
from trainables.data.registry import default_data_dir, locate

# Ray starts its workers at niceness 15 (so they yield to its GCS and raylet, ray-project/ray#24928): beside two
# processes at niceness 0 that keep both cores busy, a trial then gets ~3 % of a core and every test that trains
# through Ray runs past its timeout. The Rays the tests start (ray.init, `ray start`, `jdnas` subprocesses) inherit
# this, so their trials share the CPU evenly with whatever else runs, as the driver does.
os.environ.setdefault("RAY_worker_niceness", "0")

# Tiny training settings shared by the tests that run real trainings.
TINY = dict(train_size=256, val_size=64, test_size=128, epochs=2, batch_size=32, latency_min_run_time=0.05)

# Fashion-MNIST where a run would find it (Debian's package or `jdnas data download`); each test that
# reads it says so with this marker, so a machine without it skips those tests and runs the rest.
FASHION_MNIST = locate("fashion-mnist", default_data_dir())
needs_fashion_mnist = pytest.mark.skipif(
    FASHION_MNIST is None, reason="needs Fashion-MNIST: apt-get install dataset-fashion-mnist, or "
                                  "jdnas data download fashion-mnist")

# pytest-timeout: pyproject sets the default for every test; tests that start Ray get longer.
TIMEOUTS = {"cluster": 1500, "slow": 900}


def pytest_collection_modifyitems(items):
    for item in items:
        if item.get_closest_marker("timeout") is None:
            for marker, seconds in TIMEOUTS.items():
                if item.get_closest_marker(marker) is not None:
                    item.add_marker(pytest.mark.timeout(seconds))
                    break


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A test that reads a missing dataset without the marker fails with that reason on one line."""
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is not None and call.excinfo.errisinstance(DatasetNotFound):
        report.longrepr = f"{item.nodeid}: a dataset it needs is missing: {call.excinfo.value}"
    fail_a_skip_in_ci(item, report)


def fail_a_skip_in_ci(item, report) -> None:
    """In CI (CI=true; .ci/run sets it) everything a test needs is installed by `make test`, so a skip means
    something is missing that should not be: it fails, naming the reason, unless marked may_skip_in_ci."""
    if report.skipped and os.environ.get("CI") == "true" and item.get_closest_marker("may_skip_in_ci") is None:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome, report.longrepr = "failed", f"{item.nodeid}: skipped in CI, where it must run: {reason}"


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


def _environment_kept():
    """os.environ as it was, after the block: what a test (or the code it runs, e.g. a runner's setdefault)
    sets must not reach the next test."""
    saved = dict(os.environ)
    yield
    if dict(os.environ) != saved:
        os.environ.clear()
        os.environ.update(saved)


environment_kept_per_module = pytest.fixture(scope="module", autouse=True)(_environment_kept)
environment_kept_per_test = pytest.fixture(autouse=True)(_environment_kept)

"""The search loop (Ray-free): reports, resume from a checkpoint in both phases, chained retraining,
and a refused target before any training."""
import json
import shutil
from pathlib import Path

import pytest
import torch

from .nas_helpers import cache_synthetic_table, tiny_config, tiny_data
from trainables.nas.phases import ARCH_FILE, LUT_FILE, load_checkpoint, retrain_only, run

SEARCH_KEYS = {"expected_latency_ms", "temperature", "alpha_entropy", "beta_entropy", "val_acc", "val_psnr", "arch",
               "derived_latency_ms", "target_latency_ms", "phase", "epoch"}


class Recorder:
    """An injected report(metrics, checkpoint_dir) that keeps every result and a copy of every checkpoint."""

    def __init__(self, root: Path, stop_after: int | None = None):
        self.root, self.stop_after, self.results, self.checkpoints = root, stop_after, [], []

    def __call__(self, metrics: dict, checkpoint_dir: str) -> None:
        copy = self.root / f"ckpt{len(self.results)}"
        shutil.copytree(checkpoint_dir, copy)
        self.results.append(dict(metrics))
        self.checkpoints.append(copy)
        if self.stop_after is not None and len(self.results) >= self.stop_after:
            raise KeyboardInterrupt("simulated preemption")


def _run(config, data, root, state=None, stop_after=None):
    recorder = Recorder(root, stop_after)
    torch.manual_seed(123)  # anything the search fails to seed itself would show up as a difference
    try:
        run(config, data, recorder, state=state)
    except KeyboardInterrupt:
        pass
    return recorder


def setup_table(config, data):
    return cache_synthetic_table(config, data)


@pytest.fixture
def setup(tmp_path):
    config = tiny_config(tmp_path, beta_mode="learned")
    data = tiny_data(config)
    cache_synthetic_table(config, data)
    return config, data


def test_search_reports_every_epoch_and_writes_the_architecture(tmp_path, setup):
    config, data = setup
    rec = _run(config, data, tmp_path)
    assert [r["epoch"] for r in rec.results] == [1, 2, 3] and all(r["phase"] == 0 for r in rec.results)
    assert all(SEARCH_KEYS <= set(r) for r in rec.results)
    temps = [r["temperature"] for r in rec.results]
    assert temps[0] == temps[1] == config["tau0"] and temps[2] == pytest.approx(config["tau0"] * config["tau_decay"])
    final = rec.results[-1]
    assert {"predicted_latency_ms", "latency_ms", "macs", "predicted_macs"} <= set(final)
    assert final["macs"] == final["predicted_macs"]
    # the LUT's price of the derived network, by hand from the synthetic table's rule (0.5 ms base, and per
    # kept block 0.02 ms + 1 ms per 100k MACs) and the MACs counted on the real network the search built
    table = setup_table(config, data)
    kept = sum(int(d) for d in final["depths"].split("-"))
    by_hand = table.base_ms + 0.02 * kept + (final["macs"] - table.fixed_macs) / 1e5
    assert final["predicted_latency_ms"] == pytest.approx(by_hand, rel=1e-9)
    assert (rec.checkpoints[-1] / ARCH_FILE).exists() and (rec.checkpoints[-1] / LUT_FILE).exists()
    assert isinstance(final["arch"], str) and final["arch"].count("|") == 5
    saved = json.loads((rec.checkpoints[-1] / ARCH_FILE).read_text())
    assert json.loads(final["architecture_json"]) == saved  # the final result alone rebuilds the network
    assert all("architecture_json" not in r for r in rec.results[:-1])


def test_search_resumes_from_a_checkpoint_exactly(tmp_path, setup):
    config, data = setup
    full = _run(config, data, tmp_path / "full")
    cut = _run(config, data, tmp_path / "cut", stop_after=2)
    state = load_checkpoint(cut.checkpoints[-1])
    assert state["phase"] == "search" and state["search"]["epoch"] == 1
    resumed = _run(config, data, tmp_path / "resumed", state=state)
    assert [r["epoch"] for r in resumed.results] == [3]
    for key in ("arch", "expected_latency_ms", "val_acc", "val_psnr", "train_loss", "predicted_latency_ms"):
        assert resumed.results[-1][key] == full.results[-1][key], key
    a = torch.load(full.checkpoints[-1] / "search_state.pt", weights_only=True)["supernet"]
    b = torch.load(resumed.checkpoints[-1] / "search_state.pt", weights_only=True)["supernet"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_chained_retrain_continues_epochs_and_resumes_in_the_retrain_phase(tmp_path, setup):
    config, data = setup
    config = {**config, "retrain_epochs": 2}
    full = _run(config, data, tmp_path / "full")
    assert [r["epoch"] for r in full.results] == [1, 2, 3, 4, 5]
    assert [r["phase"] for r in full.results] == [0, 0, 0, 1, 1]
    last = full.results[-1]
    assert {"test_acc", "test_psnr_s0.5", "latency_ms", "predicted_latency_ms", "macs", "arch"} <= set(last)
    assert last["arch"] == full.results[2]["arch"] and last["macs"] == full.results[2]["predicted_macs"]
    assert last["architecture_json"] == full.results[2]["architecture_json"] and "architecture_json" not in full.results[3]
    assert {ARCH_FILE, LUT_FILE, "model.pt", "config.json"} <= {p.name for p in full.checkpoints[-1].iterdir()}
    cut = _run(config, data, tmp_path / "cut", stop_after=4)
    state = load_checkpoint(cut.checkpoints[-1])
    assert state["phase"] == "retrain" and state["retrain"]["epoch"] == 0
    resumed = _run(config, data, tmp_path / "resumed", state=state)
    assert [r["epoch"] for r in resumed.results] == [5] and resumed.results[0]["phase"] == 1
    assert resumed.results[0]["test_acc"] == last["test_acc"] and resumed.results[0]["val_psnr"] == last["val_psnr"]


def test_a_retrain_resumed_where_the_table_cache_is_missing_goes_on_with_the_checkpoints_table(tmp_path, setup,
                                                                                             monkeypatch):
    from trainables.nas import lut

    config, data = setup
    config = {**config, "retrain_epochs": 2}
    cut = _run(config, data, tmp_path / "cut", stop_after=4)  # the first retrain epoch's checkpoint

    def no_table(*args, **kwargs):
        raise AssertionError("the retrain fetched the latency table again")

    monkeypatch.setattr(lut, "load_or_build", no_table)  # another node: no cache, and building is not allowed
    resumed = _run({**config, "lut_cache_dir": str(tmp_path / "empty-cache")}, data, tmp_path / "resumed",
                   state=load_checkpoint(cut.checkpoints[-1]))
    assert [r["epoch"] for r in resumed.results] == [5]
    assert (resumed.checkpoints[-1] / LUT_FILE).read_text() == (cut.checkpoints[-1] / LUT_FILE).read_text()


def test_unreachable_target_fails_at_the_start_naming_the_range(tmp_path, setup):
    config, data = setup
    rec = Recorder(tmp_path)
    for target in (1e-4, 1e4):
        with pytest.raises(ValueError, match=r"target_latency_ms=.* is outside the reachable range \[\d+\.\d+, "
                                             r"\d+\.\d+\] ms of the 8-op space with learned beta"):
            run({**config, "target_latency_ms": target}, data, rec)
    assert rec.results == []


def test_nas_retrain_trains_a_given_architecture_with_the_shared_loop(tmp_path, setup):
    config, data = setup
    searched = _run(config, data, tmp_path / "search")
    arch_file = searched.checkpoints[-1] / ARCH_FILE
    rec = Recorder(tmp_path / "retrain")
    retrain_only({**config, "architecture": str(arch_file)}, data, rec)
    assert [r["epoch"] for r in rec.results] == [1, 2]
    assert rec.results[-1]["arch"] == searched.results[-1]["arch"] and "test_acc" in rec.results[-1]
    assert rec.results[-1]["predicted_latency_ms"] == searched.results[-1]["predicted_latency_ms"]
    assert (rec.checkpoints[-1] / ARCH_FILE).read_text() == arch_file.read_text()
    wrong = tiny_data({**config, "channels": 3})
    with pytest.raises(ValueError, match=r"searched for \[1, 16, 16\] inputs and 10 classes; the data has \[3, 16, 16\]"):
        retrain_only({**config, "channels": 3, "architecture": str(arch_file)}, wrong, rec)


def test_classifier_only_search_drops_the_decoder_and_retrains_a_classifier(tmp_path):
    """Point 9: the same macro-architecture without the decoder; its own latency table (another space digest);
    CE only; the derived network returns logits and retrains as a classifier (no PSNR anywhere)."""
    from trainables.nas.derive import SearchedNet
    from trainables.nas.macro import Macro

    config = tiny_config(tmp_path, beta_mode="removed", search_kind="classifier", retrain_epochs=1)
    data = tiny_data(config)
    cache_synthetic_table(config, data)
    rec = _run(config, data, tmp_path / "run")
    search_final, retrained = rec.results[config["search_epochs"] - 1], rec.results[-1]
    assert "val_psnr" not in search_final and search_final["train_charbonnier"] == 0.0
    assert "test_acc" in retrained and not any(k.startswith(("test_psnr", "val_psnr")) for k in retrained)
    arch = json.loads(retrained["architecture_json"])
    assert arch["macro"]["decoder"] is False
    net = SearchedNet(arch)
    assert not any("decoder" in name for name, _ in net.named_parameters())
    assert net(torch.rand(2, 1, 16, 16)).shape == (2, 10)
    joint = Macro.build((1, 16, 16), 10, config["width_mult"])
    assert Macro.from_dict(arch["macro"]) != joint and "decoder" not in joint.as_dict()
    assert retrained["latency_ms"] > 0 and retrained["macs"] == search_final.get("predicted_macs", retrained["macs"])

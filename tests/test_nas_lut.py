"""The latency table: keyed cache, refusal of tables from another device/torch/input/batch, real timing."""
import copy
import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from .nas_helpers import cpu_key, synthetic_table, tiny_macro
from .timing import fastest_alternated, within_band
from trainables.measure.latency import device_name, measure_latency
from trainables.nas import lut
from trainables.nas.derive import SearchedNet, reference_architectures

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def macro():
    return tiny_macro()


@pytest.fixture(scope="module")
def table(macro):
    return synthetic_table(macro)


def test_key_names_device_torch_input_batch_and_space(macro):
    key = lut.LatencyKey.for_device(macro, "cpu", 1, 1)
    assert key.device_name == device_name("cpu") and key.device_type == "cpu"
    assert key.input_shape == (1, 16, 16) and key.batch_size == 1 and key.threads == 1
    assert "torch" in key.describe() and key.torch_version.startswith(lut.torch.__version__)
    other_space = lut.LatencyKey.for_device(tiny_macro(width_mult=0.2), "cpu", 1, 1)
    assert other_space.space != key.space and other_space.digest != key.digest


@pytest.mark.parametrize("change", [dict(device_name="Another CPU"), dict(device_type="cuda"),
                                    dict(torch_version="1.1.0"), dict(input_shape=(3, 96, 96)),
                                    dict(batch_size=32), dict(threads=4)])
def test_every_key_field_selects_another_cache_entry(tmp_path, macro, table, change):
    key = cpu_key(macro)
    stored = lut.store_table(table, key, tmp_path)
    other = cpu_key(macro, **change)
    assert other.digest != key.digest
    assert lut.cache_folder(other, tmp_path) != stored.parent
    assert not (lut.cache_folder(other, tmp_path) / "table.json").exists()  # would be measured anew


@pytest.mark.parametrize("change,field", [(dict(device_name="Another CPU"), "device_name"),
                                          (dict(torch_version="1.1.0"), "torch_version"),
                                          (dict(input_shape=(3, 96, 96)), "input_shape"),
                                          (dict(batch_size=32), "batch_size")])
def test_a_table_from_another_key_is_refused_not_used(tmp_path, macro, table, change, field):
    key = cpu_key(macro)
    stored = lut.store_table(table, key, tmp_path)
    with pytest.raises(ValueError, match=rf"measured under another key .*{field}: table has"):
        lut.load_or_build(macro, cpu_key(macro, **change), "cpu", path=stored)
    # copied into the cache folder of the other key (e.g. a shared cache), it is refused too
    other = cpu_key(macro, **change)
    folder = lut.cache_folder(other, tmp_path)
    folder.mkdir(parents=True)
    (folder / "table.json").write_text(stored.read_text())
    (folder / "key.json").write_text(json.dumps(other.as_dict()))
    with pytest.raises(ValueError, match="measured under another key"):
        lut.load_or_build(macro, other, "cpu", cache_dir=tmp_path)


def test_cached_table_is_reused_and_a_tampered_key_file_is_refused(tmp_path, macro, table, capfd):
    key = cpu_key(macro)
    lut.store_table(table, key, tmp_path)
    loaded, path = lut.load_or_build(macro, key, "cpu", cache_dir=tmp_path)
    assert loaded.entries == table.entries and loaded.base_ms == table.base_ms  # the synthetic values: not re-timed
    assert "measuring the latency table" not in capfd.readouterr().out
    (path.parent / "key.json").write_text(json.dumps({**key.as_dict(), "batch_size": 8}))
    with pytest.raises(ValueError, match="key.json does not match"):
        lut.load_or_build(macro, key, "cpu", cache_dir=tmp_path)


def test_table_has_one_entry_per_block_op_and_width(macro, table):
    slots = lut.unique_slots(macro)
    assert set(table.entries) == set(slots)
    for slot_key, slot in slots.items():
        assert len(table.entries[slot_key]) == 8
        for name, widths in table.widths[slot_key].items():
            assert len(widths) == 5 and len(table.entries[slot_key][name]) == 5


BUILD = """
import sys, json
from trainables.nas import lut
from trainables.nas.macro import Macro
macro = Macro.build((1, 16, 16), 10, 0.1)
key = lut.LatencyKey.for_device(macro, "cpu", 1, 1)
table, path = lut.load_or_build(macro, key, "cpu", cache_dir=sys.argv[1], min_run_time=0.001, rounds=1)
print(json.dumps(dict(path=str(path), base=table.base_ms)))
"""


@pytest.mark.slow
def test_real_build_is_timed_once_under_a_lock_and_then_cached(tmp_path):
    """Two processes ask for the same table at once: one measures (with a progress bar), one waits."""
    procs = [subprocess.Popen([sys.executable, "-c", BUILD, str(tmp_path)], cwd=ROOT, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    measured = [o for o, _ in outs if "measuring the latency table" in o]
    assert len(measured) == 1, outs
    assert sum("latency table on" in e for _, e in outs) == 1  # the progress bar of the one build
    results = [json.loads(o.strip().splitlines()[-1]) for o, _ in outs]
    assert results[0] == results[1]
    table = json.loads(Path(results[0]["path"]).read_text())
    assert table["key"]["device_name"] == device_name("cpu")
    # every block costs more than the empty call timed as the null: an entry that was clamped (block timed
    # below the null) or mis-subtracted reads 0. (An ordering of ops by cost is not asserted: at these
    # 1 ms timings on a loaded machine the cheapest ops summed above the dearest once.)
    assert all(ms > 0 for ops in table["entries"].values() for v in ops.values() for ms in v)
    assert table["base_ms"] > 0 and len(table["calibration"]["reference_ms"]) == lut.REFERENCES


def test_reanchor_puts_a_table_on_this_process_scale(macro):
    """A synthetic table (off this machine's scale by some factor) re-anchored here predicts the reference
    networks as measure_latency times them directly; its factor is the direct timings over the table's
    predictions. Direct timings and re-anchorings alternate (tests/timing.py), each side keeping its fastest."""
    archs = reference_architectures(macro, lut.REFERENCES)[:8]
    timing = dict(device="cpu", batch_size=1, threads=1, min_run_time=0.01, backend="torch")
    synthetic = synthetic_table(macro)
    anchored_tables = {}

    def anchored():  # re-anchor a copy of the synthetic table, timed now; keep each round's table
        table = copy.deepcopy(synthetic)
        factor = lut.reanchor(table, macro, timing)
        anchored_tables[factor] = table
        return {"factor": factor}

    best = fastest_alternated(3, {  # the direct side timed as reanchor times (same min_run_time)
        "direct": lambda: {i: measure_latency(SearchedNet(a), macro.input_shape, **timing).median_ms
                           for i, a in enumerate(archs)},
        "anchor": anchored})
    direct = [best["direct"][i] for i in range(len(archs))]
    by_hand = statistics.median(d / lut.predict_ms(synthetic, macro, a) for a, d in zip(archs, direct))
    factor = best["anchor"]["factor"]
    assert within_band(factor, by_hand), (factor, by_hand)
    table = anchored_tables[factor]
    assert table.calibration["anchor_factor"] == factor and table.base_ms == pytest.approx(synthetic.base_ms * factor)
    ratio = statistics.median(lut.predict_ms(table, macro, a) / d for a, d in zip(archs, direct))
    assert within_band(ratio, 1.0), ratio

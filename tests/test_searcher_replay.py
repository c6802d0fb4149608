"""The searcher replay answers every suggestion from the table and scores it like the sweep: checked on a made-up
48-row table against moocore, and the stored real table covers the whole classifier-search space."""
import importlib.util
import itertools
import json
from pathlib import Path

import pytest

from search_spaces.architecture import CLASSIFIER_SEARCH, grid_of

moocore = pytest.importorskip("moocore")
SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "searcher_replay.py"


def replay_module():
    spec = importlib.util.spec_from_file_location("searcher_replay", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def made_up_table(path: Path) -> list[dict]:
    grid = grid_of(CLASSIFIER_SEARCH.optimize.params)
    rows = [dict(expansion=e, width=w, val_acc=20 + w / 4 + 3 * e - 0.4 * e * e, latency_ms=0.01 + 0.002 * w * (1 + e / 3))
            for e, w in itertools.product(grid["expansion"], grid["width"])]
    path.write_text(json.dumps({"rows": rows, "wall_time_s": 1.0}))
    return rows


def test_grid_order_and_fractions_match_moocore(tmp_path, capsys):
    rows = made_up_table(tmp_path / "table.json")
    assert replay_module().main(["--table", str(tmp_path / "table.json"), "--repeats", "2",
                                 "--searchers", "random,grid,tpe"]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    ref = (-10.0, CLASSIFIER_SEARCH.optimize.reference["latency_ms"])
    points = [(-r["val_acc"], r["latency_ms"]) for r in rows]
    full = moocore.hypervolume(points, ref=ref)
    assert line["grid_size"] == 48 and line["budgets"] == {"tenth": 5, "quarter": 12, "third": 16, "half": 24}
    assert line["full_grid_hv"] == pytest.approx(full)
    # grid order is the sweep's product order (expansion outer, width inner): its first 16 trials are e in {0, 1}
    assert line["hv_fraction"]["grid"]["third"]["median"] == pytest.approx(moocore.hypervolume(points[:16], ref=ref) / full)
    assert 0 < line["tpe_hv_fraction_at_third"] <= 1
    assert line["tpe_vs_random_at_third"] == pytest.approx(
        line["hv_fraction"]["tpe"]["third"]["median"] / line["hv_fraction"]["random"]["third"]["median"])


def test_stored_table_is_the_whole_real_grid():
    record = json.loads(replay_module().TABLE.read_text())
    grid = grid_of(CLASSIFIER_SEARCH.optimize.params)
    assert {(r["expansion"], r["width"]) for r in record["rows"]} == set(itertools.product(*grid.values()))
    assert all(r["latency_device"] and 0 < r["val_acc"] <= 100 for r in record["rows"])  # a tiny net may end at chance

"""The search's score on hand-made rows: the cap keeps infeasible trials off the front and out of the hypervolume,
the curve follows the finishing order, and the values are computed by hand."""
import pytest

from orchestrator.pareto import score as search_score
from search_spaces import Optimize

OPTIMIZE = Optimize(params={"width": ("int", 8, 64, 8)}, metrics=("val_acc", "latency_ms"), modes=("max", "min"),
                    reference={"val_acc": 10.0, "latency_ms": 3.0}, constraint="latency_ms")


def row(acc, latency, finished_at, status="TERMINATED"):
    return dict(status=status, val_acc=acc, latency_ms=latency, reported_at=finished_at, expansion=0.0, width=8)


ROWS = [row(60.0, 1.0, 1), row(70.0, 2.5, 2), row(50.0, 0.5, 3), row(55.0, 1.5, 4),  # the last is dominated
        row(None, None, 5, status="ERROR")]


def test_uncapped_front_and_hypervolume_by_hand():
    front = search_score.front(ROWS, OPTIMIZE, None)
    assert [(r["val_acc"], r["latency_ms"]) for r in front] == [(70.0, 2.5), (60.0, 1.0), (50.0, 0.5)]
    # minimisation points (-70, 2.5), (-60, 1), (-50, 0.5), reference (-10, 3); strips along -acc:
    # 60 x 0.5 + 50 x 1.5 + 40 x 0.5 = 30 + 75 + 20
    assert search_score.score(ROWS, OPTIMIZE, None) == pytest.approx(125.0)


def test_cap_removes_infeasible_points_and_becomes_the_latency_reference():
    assert [(r["val_acc"], r["latency_ms"]) for r in search_score.front(ROWS, OPTIMIZE, 1.2)] == [(60.0, 1.0),
                                                                                                (50.0, 0.5)]
    # (-60, 1), (-50, 0.5), reference (-10, 1.2): 50 x 0.2 + 40 x 0.5
    assert search_score.score(ROWS, OPTIMIZE, 1.2) == pytest.approx(30.0)
    record = search_score.front_record(ROWS, OPTIMIZE, 1.2)
    assert record["reference"] == {"val_acc": 10.0, "latency_ms": 1.2} and record["max_latency_ms"] == 1.2
    assert all(p["latency_ms"] <= 1.2 for p in record["front"])


def test_curve_counts_every_finished_trial_in_finishing_order():
    shuffled = [ROWS[3], ROWS[0], ROWS[4], ROWS[2], ROWS[1]]
    # after (60, 1): 50 x 2; + (70, 2.5): 60 x 0.5 + 50 x 1.5 = 105; + (50, 0.5): 125; dominated, error: 125
    assert search_score.curve(shuffled, OPTIMIZE, None) == pytest.approx([100.0, 105.0, 125.0, 125.0, 125.0])

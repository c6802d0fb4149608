"""Kendall's tau-b against SciPy's (a peer implementation), with ties on either side, and one case by hand."""
import random

import pytest
from scipy.stats import kendalltau

from orchestrator.report.rank_agreement import kendall_tau_b


def test_by_hand_one_swapped_pair_of_three():
    # pairs (a,b) and (a,c) agree, (b,c) is swapped: (2 - 1) / 3
    assert kendall_tau_b([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)
    assert kendall_tau_b([1, 2, 3], [3, 2, 1]) == -1.0


@pytest.mark.parametrize("seed", range(20))
def test_equals_scipys_tau_b_with_ties(seed):
    rng = random.Random(seed)
    n = rng.randint(3, 12)
    xs = [rng.choice([55.4, 56.2, 58.4, 61.4, 63.2, 63.2]) for _ in range(n)]  # printed accuracies repeat
    ys = [round(rng.gauss(60, 5), 0) for _ in range(n)]
    expected = kendalltau(xs, ys, variant="b").statistic
    got = kendall_tau_b(xs, ys)
    assert got is None if expected != expected else got == pytest.approx(expected, abs=1e-12)


def test_no_order_on_a_constant_side_or_a_single_item():
    assert kendall_tau_b([1, 1, 1], [1, 2, 3]) is None and kendall_tau_b([1], [2]) is None
    with pytest.raises(ValueError):
        kendall_tau_b([1, 2], [1])

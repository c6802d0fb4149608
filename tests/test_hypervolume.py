"""The exact hypervolume against moocore (an independent C implementation) on hand-made 2-D and 3-D fronts, and
one 2-D case computed by hand."""
import random

import pytest

from orchestrator.pareto.hypervolume import hypervolume, to_minimised

moocore = pytest.importorskip("moocore")


def test_two_objectives_by_hand():
    # minimise both, ref (10, 10): staircase of (2, 8), (4, 5), (7, 3), plus (5, 6), dominated by (4, 5)
    # strips by x: (10-2)*(10-8) = 16, (10-4)*(8-5) = 18, (10-7)*(5-3) = 6  -> 40
    assert hypervolume([(2, 8), (4, 5), (7, 3), (5, 6)], (10, 10)) == 40.0


def test_points_outside_the_reference_add_nothing():
    assert hypervolume([(11, 1), (1, 10), (float("nan"), 1)], (10, 10)) == 0.0
    assert hypervolume([(11, 1), (9, 9)], (10, 10)) == 1.0


def test_maximised_objectives_are_negated():
    # accuracy 80 % at 2 ms, reference (chance 10 %, 5 ms): 70 x 3
    acc_latency = to_minimised((80.0, 2.0), ("max", "min"))
    assert hypervolume([acc_latency], to_minimised((10.0, 5.0), ("max", "min"))) == pytest.approx(210.0)


FRONT_2D = [(1.0, 9.0), (2.0, 7.5), (3.5, 5.0), (5.0, 4.5), (6.0, 2.0), (8.5, 1.0), (4.0, 6.0), (9.0, 9.0)]
FRONT_3D = [(1.0, 5.0, 7.0), (2.0, 2.0, 8.0), (4.0, 1.0, 6.0), (3.0, 4.0, 2.0), (6.0, 6.0, 1.0), (5.0, 3.0, 3.0),
            (2.5, 2.5, 2.5), (7.0, 7.0, 7.0)]


@pytest.mark.parametrize("points, ref", [(FRONT_2D, (10.0, 10.0)), (FRONT_3D, (8.0, 9.0, 10.0)),
                                         (FRONT_3D[:3], (5.0, 6.0, 9.0))])
def test_hand_made_fronts_match_moocore(points, ref):
    assert hypervolume(points, ref) == pytest.approx(moocore.hypervolume(points, ref=ref), rel=1e-12)


@pytest.mark.parametrize("dims", [2, 3])
def test_random_sets_with_ties_and_dominated_points_match_moocore(dims):
    rng = random.Random(dims)
    for _ in range(30):
        points = [tuple(rng.choice([0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5]) for _ in range(dims))
                  for _ in range(rng.randint(1, 25))]
        ref = (4.0,) * dims
        assert hypervolume(points, ref) == pytest.approx(moocore.hypervolume(points, ref=ref), rel=1e-12)

"""The claims section: its statistics against scipy.stats (and hand values), verdicts on hand-made rows whose
verdict is known, and the claims of the registered sweeps pointing at columns and sweeps that exist."""
import math

import pytest

from orchestrator.report import confidence
from orchestrator.report.claims import claims_section, judge, judge_sweep, parent_tags, smoke_test_line, write_claims
from search_spaces import all_sweeps
from search_spaces.claims import Claim, all_claims, claims_for


def test_t_and_f_quantiles_match_hand_values_and_scipy():
    # printed t and F tables: t(0.975; 1) 12.706, t(0.975; 4) 2.776, t(0.975; 30) 2.042, F(0.975; 3, 3) 15.44
    assert confidence.t_quantile(0.975, 1) == pytest.approx(12.7062, abs=1e-4)
    assert confidence.t_quantile(0.975, 4) == pytest.approx(2.7764, abs=1e-4)
    assert confidence.t_quantile(0.975, 30) == pytest.approx(2.0423, abs=1e-4)
    assert confidence.f_quantile(0.975, 3, 3) == pytest.approx(15.439, abs=1e-3)
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 3, 7.5, 19, 200):
        assert confidence.t_quantile(0.975, df) == pytest.approx(stats.t.ppf(0.975, df), rel=1e-9)
        assert confidence.t_cdf(1.3, df) == pytest.approx(stats.t.cdf(1.3, df), rel=1e-9)
    for d1, d2 in ((1, 1), (3, 3), (5, 9)):
        for p in (0.025, 0.975):
            assert confidence.f_quantile(p, d1, d2) == pytest.approx(stats.f.ppf(p, d1, d2), rel=1e-8)


def test_paired_and_welch_intervals_match_scipy():
    a, b = {0: 64.1, 1: 63.5, 2: 64.9}, {0: 63.0, 1: 62.9, 2: 63.8}
    paired = confidence.difference(a, b)
    diffs = [a[s] - b[s] for s in a]  # 1.1, 0.6, 1.1: mean 0.9333, sd 0.2887, half-width 4.3027 * 0.2887 / sqrt 3
    assert paired.paired and paired.mean == pytest.approx(0.93333, abs=1e-5)
    assert paired.high - paired.mean == pytest.approx(4.302653 * 0.288675 / math.sqrt(3), rel=1e-5)
    welch = confidence.difference(a, {5: 63.0, 6: 62.9, 7: 63.8, 8: 62.0})
    assert not welch.paired
    stats = pytest.importorskip("scipy.stats")
    low, high = stats.ttest_rel(list(a.values()), list(b.values())).confidence_interval(0.95)
    assert (paired.low, paired.high) == (pytest.approx(low), pytest.approx(high))
    result = stats.ttest_ind(list(a.values()), [63.0, 62.9, 63.8, 62.0], equal_var=False)
    low, high = result.confidence_interval(0.95)
    assert (welch.low, welch.high) == (pytest.approx(low), pytest.approx(high))
    assert sum(diffs) / 3 == pytest.approx(paired.mean)


def test_seeds_to_clear_is_the_smallest_n_whose_half_width_fits():
    n = confidence.seeds_to_clear(1.0, 1.0)  # t(n-1) / sqrt(n) < 1: n = 7 (2.447 / 2.646 = 0.925; n = 6: 1.049)
    assert n == 7
    assert confidence.seeds_to_clear(0.0, 1.0) is None and confidence.seeds_to_clear(1.0, 0.0) == 2


def row(model, seed, acc, macs=1e6, status="TERMINATED"):
    return dict(status=status, classifier=model, seed=seed, test_acc=acc, macs=macs)


GREATER = Claim("t-greater", "test", "A beats B", ("s",), "test_acc", {"classifier": "A"}, {"classifier": "B"})


def test_verdicts_on_hand_made_rows():
    holds = [row("A", s, 60 + s + 1.0 + 0.05 * (-1) ** s) for s in range(4)] + [row("B", s, 60 + s) for s in range(4)]
    v = judge(GREATER, holds)  # paired differences 1.05, 0.95, 1.05, 0.95: far from 0
    assert v.verdict == "holds" and v.paired and v.seeds == (4, 4) and v.low > 0.8
    contradicted = [row("A", s, 55 + s + 0.1 * s) for s in range(3)] + [row("B", s, 60 + s) for s in range(3)]
    assert judge(GREATER, contradicted).verdict == "contradicted"
    # two seeds, a 1 pp gap with a 1.41 pp spread of the paired differences: the interval spans 0
    unresolved = [row("A", 0, 62.0), row("A", 1, 60.0), row("B", 0, 60.0), row("B", 1, 60.0)]
    v = judge(GREATER, unresolved)
    assert v.verdict == "unresolved" and v.mean == pytest.approx(1.0)
    assert v.to_resolve == confidence.seeds_to_clear(1.0, math.sqrt(2)) == 11  # t(10)*1.414/sqrt(11) = 0.950
    one_seed = judge(GREATER, [row("A", 0, 62.0), row("B", 0, 60.0)])
    assert one_seed.verdict == "unresolved" and "one seed" in one_seed.note
    assert judge(GREATER, [row("A", 0, 62.0)]).verdict == "no rows"
    failed = judge(GREATER, [row("A", 0, 62.0), row("B", 0, 60.0, status="ERROR")])
    assert failed.verdict == "no rows"


def test_similar_and_cost_and_spread_claims():
    similar = Claim("t-sim", "test", "A and B alike", ("s",), "test_acc", {"classifier": "A"}, {"classifier": "B"},
                    kind="similar", margin=1.0)
    alike = [row("A", s, 60 + 0.1 * s) for s in range(4)] + [row("B", s, 60 + 0.1 * s + 0.05) for s in range(4)]
    assert judge(similar, alike).verdict == "holds"
    apart = [row("A", s, 65 + 0.1 * s) for s in range(4)] + [row("B", s, 60) for s in range(4)]
    assert judge(similar, apart).verdict == "contradicted"
    fewer = Claim("t-macs", "test", "B costs less", ("s",), "macs", {"classifier": "A"}, {"classifier": "B"})
    one = [row("A", 0, 60, macs=2e6), row("B", 0, 60, macs=1e6)]
    assert judge(fewer, one).verdict == "holds"  # costs: one seed decides
    spread = Claim("t-spread", "test", "A is stabler", ("s",), "test_acc", {"classifier": "A"}, {"classifier": "B"},
                   kind="less_spread")
    steady = [row("A", s, 60 + 0.01 * s) for s in range(5)] + [row("B", s, 60 + 3 * (-1) ** s) for s in range(5)]
    assert judge(spread, steady).verdict == "holds"
    two = [row("A", s, 60 + 0.1 * s) for s in range(2)] + [row("B", s, 60 + 1.0 * s) for s in range(2)]
    v = judge(spread, two)  # variance ratio 0.01 with 1 / 1 degrees of freedom: F(0.025; 1, 1) = 0.00154
    assert v.verdict == "unresolved" and v.to_resolve == confidence.seeds_to_separate_spreads(0.01) == 3


def test_section_smoke_line_json_and_tags(tmp_path):
    rows = [row("Conv-L", 0, 60.0), row("MB2.5-M", 0, 61.0)]
    verdicts = judge_sweep("classifier-scaling", rows)
    assert {v.claim.id for v in verdicts} == {c.id for c in claims_for("classifier-scaling")}
    line = smoke_test_line(verdicts)
    assert line and line.startswith("> **Smoke test of the pipeline, not a replication:**")
    section = claims_section(verdicts)
    assert section.startswith("### Claims") and "| a1-mb25m-beats-convl (A.1 Exp. 1) |" in section
    assert "| 1.00 pp (no interval from one seed) |" in section and "inf" not in section  # one seed a side
    write_claims(verdicts, tmp_path)
    tags = parent_tags(tmp_path)
    assert tags["jdnas.smoke_test"] == "true" and tags["jdnas.claim.a1-mb25m-beats-convl"] == "unresolved"
    assert tags["jdnas.claims"].startswith("holds=")


def test_every_claim_names_registered_sweeps():
    names = {s.name for s in all_sweeps()}
    for claim in all_claims():
        assert set(claim.sweeps) <= names, claim.id
    assert len(claims_for("classifier-scaling")) == 13 and len(claims_for("table8")) == 3

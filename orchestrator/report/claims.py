"""Judge the appendix's claims (search_spaces.claims) on a sweep's rows: the report's "Claims" section, its
claims.json and the MLflow parent run's tags.

Each claim compares two sides of a metric over seeds: the interval (orchestrator.report.confidence) is paired on the
seeds both sides ran, as seed s of every model trained with seed s and was tested on the same images with the
same noise (eval_seed), so what the seeds share cancels. The verdict is `holds` (the interval clears the
boundary on the claim's side), `contradicted` (it clears it on the other side) or `unresolved`, with the
seeds that would resolve it if mean and spread stay as observed. Costs (MACs, params) do not vary over
seeds and are judged from one. A report none of whose measured claims resolves opens with a smoke-test line.
"""
from __future__ import annotations

import json
import math
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path

from search_spaces.claims import Claim, claims_for

from orchestrator.atomic import write_atomic
from orchestrator.report import confidence
from orchestrator.report.formatting import markdown_table

EXACT = ("macs", "flops", "params")  # the same in every seed: one seed decides
CLAIMS_FILE = "claims.json"


@dataclass(frozen=True)
class Verdict:
    claim: Claim
    verdict: str                  # holds | contradicted | unresolved | no rows
    mean: float | None = None     # a - b (or the variance ratio for less_spread)
    low: float | None = None
    high: float | None = None
    seeds: tuple[int, int] = (0, 0)
    paired: bool = False
    to_resolve: int | None = None  # seeds that would resolve an unresolved verdict (None: none or not needed)
    note: str = ""

    @property
    def measured(self) -> bool:
        return self.claim.metric not in EXACT


def _value(row: dict, key: str):
    return row.get(f"config_{key}", row.get(key))


def side_values(rows: list[dict], selector: dict, metric: str) -> dict[int, float]:
    """seed -> the metric of the finished rows matching `selector` (averaged if several grid points match)."""
    by_seed: dict[int, list[float]] = {}
    for row in rows:
        value = row.get(metric)
        if row.get("status") != "TERMINATED" or not isinstance(value, (int, float)) or not math.isfinite(value):
            continue
        if all(_value(row, k) == v for k, v in selector.items()):
            by_seed.setdefault(int(row.get("seed") or 0), []).append(float(value))
    return {seed: statistics.fmean(values) for seed, values in by_seed.items()}


def _decide(holds: bool, contradicted: bool, gap: float, sd: float) -> tuple[str, int | None]:
    if holds:
        return "holds", None
    if contradicted:
        return "contradicted", None
    return "unresolved", confidence.seeds_to_clear(gap, sd)


def judge_difference(claim: Claim, a: dict, b: dict) -> Verdict:
    if claim.metric in EXACT:  # deterministic: compare one seed's values
        diff = statistics.fmean(a.values()) - statistics.fmean(b.values())
        interval = confidence.Interval(diff, diff, diff, 1, 0.0, math.inf, True)
    else:
        interval = confidence.difference(a, b)
    low, high, mean, m = interval.low, interval.high, interval.mean, claim.margin
    if claim.kind == "greater":
        verdict, needed = _decide(low > m, high < m, abs(mean - m), interval.sd)
    else:  # similar: |a - b| < margin
        inside, outside = -m < low and high < m, low >= m or high <= -m
        verdict, needed = _decide(inside, outside, abs(m - abs(mean)), interval.sd)
    note = "" if interval.df is not None else "one seed per side: no spread to judge from"
    return Verdict(claim, verdict, mean, low, high, (len(a), len(b)), interval.paired, needed, note)


def judge_spread(claim: Claim, a: dict, b: dict) -> Verdict:
    found = confidence.spread_ratio(list(a.values()), list(b.values()))
    if found is None:
        return Verdict(claim, "unresolved", seeds=(len(a), len(b)), note="needs >= 2 seeds per side with spread")
    ratio, low, high = found
    verdict = "holds" if high < 1 else "contradicted" if low > 1 else "unresolved"
    needed = confidence.seeds_to_separate_spreads(ratio) if verdict == "unresolved" else None
    return Verdict(claim, verdict, ratio, low, high, (len(a), len(b)), False, needed, "variance ratio a / b")


def judge(claim: Claim, rows: list[dict]) -> Verdict:
    a, b = side_values(rows, claim.a, claim.metric), side_values(rows, claim.b, claim.metric)
    if not a or not b:
        missing = " and ".join(f"{name} {sel}" for name, sel, v in (("a", claim.a, a), ("b", claim.b, b)) if not v)
        return Verdict(claim, "no rows", seeds=(len(a), len(b)), note=f"no finished rows with {claim.metric} for {missing}")
    return judge_spread(claim, a, b) if claim.kind == "less_spread" else judge_difference(claim, a, b)


def judge_sweep(sweep_name: str, rows: list[dict]) -> list[Verdict]:
    return [judge(claim, rows) for claim in claims_for(sweep_name)]


def is_smoke_test(verdicts: list[Verdict]) -> bool:
    """No measured claim resolved: the run exercised the pipeline but says nothing about the paper."""
    return not any(v.measured and v.verdict in ("holds", "contradicted") for v in verdicts)


def smoke_test_line(verdicts: list[Verdict]) -> str | None:
    if not verdicts or not is_smoke_test(verdicts):
        return None
    measured = [v for v in verdicts if v.measured]
    return (f"> **Smoke test of the pipeline, not a replication:** none of the {len(measured)} measured claims this "
            "sweep can judge resolved at this budget (see Claims for the seeds each would need).")


def _number(value: float | None, claim: Claim) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "+inf" if value > 0 else "-inf"
    scale = 1e6 if claim.unit == "MACs" else 1
    digits = 3 if claim.unit == "ms" or claim.kind == "less_spread" else 2
    return f"{value / scale:.{digits}f}"


def _paper(claim: Claim) -> str:
    effect = claim.paper_effect
    if effect is None:
        return "no number" + (f" (margin {claim.margin:g} {claim.unit}, {claim.margin_source})" if claim.margin_source else "")
    if isinstance(effect, tuple):
        return f"spreads {effect[0]:g} vs {effect[1]:g} {claim.unit}"
    if claim.unit == "MACs":  # the paper's FLOP columns as printed (Table 7 in K, Table 8 in M)
        return f"{effect / 1e6:.1f} M (as printed)" if abs(effect) >= 1e6 else f"{effect / 1e3:.0f} K (as printed)"
    return f"{_number(effect, claim)} {claim.unit}"


def _ours(v: Verdict) -> str:
    if v.mean is None:
        return "n/a"
    unit = "" if v.claim.kind == "less_spread" else (" M MACs" if v.claim.unit == "MACs" else f" {v.claim.unit}")
    if v.claim.metric in EXACT:
        return f"{_number(v.mean, v.claim)}{unit}"
    if math.isinf(v.low) and math.isinf(v.high):  # one seed on a side: a mean, but nothing to bound it by
        return f"{_number(v.mean, v.claim)}{unit} (no interval from one seed)"
    return f"{_number(v.mean, v.claim)}{unit} [{_number(v.low, v.claim)}, {_number(v.high, v.claim)}]"


def _resolve_text(v: Verdict) -> str:
    if v.verdict != "unresolved":
        return ""
    if v.to_resolve is None:
        return "no seed count up to 1000 (effect at the boundary)" if not v.note else v.note
    return f"~{v.to_resolve} seeds per side"


def claims_section(verdicts: list[Verdict]) -> str | None:
    if not verdicts:
        return None
    body = [[f"{v.claim.id} ({v.claim.place})", v.claim.sentence, _paper(v.claim), _ours(v),
             f"{v.seeds[0]}/{v.seeds[1]}{' paired' if v.paired else ''}", f"**{v.verdict}**", _resolve_text(v)]
            for v in verdicts]
    header = ["claim", "the appendix says", "paper's effect", "ours (a - b, mean [95 % CI])", "seeds a/b",
              "verdict", "to resolve"]
    return ("### Claims\n\n" + markdown_table(header, body)
            + "\n\nIntervals are Student-t over seeds, paired on seed where both sides ran the same seeds (same test "
              "images and noise); spreads are F intervals of the variance ratio. `to resolve` assumes the observed "
              "mean and spread stay as they are. Claims live in search_spaces/claims.py.")


def _finite(value):
    """JSON-safe: an unbounded or undefined bound becomes null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def to_json(verdicts: list[Verdict]) -> list[dict]:
    return [_finite({**{k: val for k, val in asdict(v).items() if k != "claim"}, "claim": asdict(v.claim),
                     "measured": v.measured}) for v in verdicts]


def write_claims(verdicts: list[Verdict], out_dir: Path) -> Path:
    path = out_dir / CLAIMS_FILE
    write_atomic(path, json.dumps({"smoke_test": is_smoke_test(verdicts), "claims": to_json(verdicts)},
                                  indent=1).encode())
    return path


def parent_tags(out_dir: Path) -> dict[str, str]:
    """MLflow parent-run tags from a report folder's claims.json: one per claim and the counts."""
    path = out_dir / CLAIMS_FILE
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    tags = {f"jdnas.claim.{c['claim']['id']}": c["verdict"] for c in data["claims"]}
    counts = {k: sum(c["verdict"] == k for c in data["claims"]) for k in ("holds", "contradicted", "unresolved")}
    tags.update({"jdnas.claims": " ".join(f"{k}={n}" for k, n in counts.items()),
                 "jdnas.smoke_test": str(data["smoke_test"]).lower()})
    return tags

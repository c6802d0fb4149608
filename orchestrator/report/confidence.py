"""Confidence intervals for the claims section: a Student-t interval over seeds (paired differences or
Welch's two-sample form), an F interval for a ratio of spreads, and how many seeds would make an
interval exclude a boundary if mean and spread stay as observed.

Pure Python (no scipy at run time): the t and F quantiles are bisections of their CDFs, both written
through the regularised incomplete beta function (continued fraction, Numerical Recipes §6.4).
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

LEVEL = 0.95
MAX_SEEDS = 1000  # beyond this, "resolving" is not a matter of seeds


def _beta_fraction(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        for numerator in (m * (b - m) * x / ((qam + 2 * m) * (a + 2 * m)),
                          -(a + m) * (qab + m) * x / ((a + 2 * m) * (qap + 2 * m))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-14:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, 1 - x) / b


def t_cdf(t: float, df: float) -> float:
    tail = 0.5 * betainc(df / 2, 0.5, df / (df + t * t))
    return 1 - tail if t > 0 else tail


def f_cdf(f: float, df1: float, df2: float) -> float:
    return betainc(df1 / 2, df2 / 2, df1 * f / (df1 * f + df2)) if f > 0 else 0.0


def _bisect(cdf, p: float, low: float, high: float) -> float:
    while cdf(high) < p:
        high *= 2
    for _ in range(200):
        mid = (low + high) / 2
        low, high = (mid, high) if cdf(mid) < p else (low, mid)
    return (low + high) / 2


def t_quantile(p: float, df: float) -> float:
    if p < 0.5:
        return -t_quantile(1 - p, df)
    return _bisect(lambda t: t_cdf(t, df), p, 0.0, 10.0)


def f_quantile(p: float, df1: float, df2: float) -> float:
    return _bisect(lambda f: f_cdf(f, df1, df2), p, 0.0, 10.0)


@dataclass(frozen=True)
class Interval:
    """mean with its two-sided `LEVEL` interval; `sd` and `n` of what the interval is over (paired
    differences, or each side for Welch), `df` its degrees of freedom (None: no spread could be estimated)."""
    mean: float
    low: float
    high: float
    n: int
    sd: float
    df: float | None
    paired: bool


def t_interval(values: list[float], level: float = LEVEL) -> Interval:
    """Student-t interval of the mean of `values` (one per seed); a single value has an unbounded interval."""
    n, mean = len(values), statistics.fmean(values)
    if n < 2:
        return Interval(mean, -math.inf, math.inf, n, math.nan, None, True)
    sd = statistics.stdev(values)
    half = t_quantile(0.5 + level / 2, n - 1) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n, sd, n - 1, True)


def difference(a: dict[int, float], b: dict[int, float], level: float = LEVEL) -> Interval:
    """Interval of mean(a) - mean(b) for values keyed by seed: paired on the seeds both sides ran when they
    ran the same ones (same training seed, same test images and noise), else Welch's unpaired form."""
    shared = sorted(set(a) & set(b))
    if shared and len(shared) == len(a) == len(b):
        return t_interval([a[s] - b[s] for s in shared], level)
    xs, ys = list(a.values()), list(b.values())
    mean = statistics.fmean(xs) - statistics.fmean(ys)
    if len(xs) < 2 or len(ys) < 2:
        return Interval(mean, -math.inf, math.inf, min(len(xs), len(ys)), math.nan, None, False)
    va, vb = statistics.variance(xs) / len(xs), statistics.variance(ys) / len(ys)
    se = math.sqrt(va + vb)
    if se == 0:
        return Interval(mean, mean, mean, min(len(xs), len(ys)), 0.0, math.inf, False)
    df = (va + vb) ** 2 / (va ** 2 / (len(xs) - 1) + vb ** 2 / (len(ys) - 1))
    half = t_quantile(0.5 + level / 2, df) * se
    return Interval(mean, mean - half, mean + half, min(len(xs), len(ys)), se * math.sqrt(min(len(xs), len(ys))),
                    df, False)


def fewest(enough, limit: int = MAX_SEEDS) -> int | None:
    """Smallest n in 2..limit with enough(n) true (enough is monotone in n): doubling, then bisection."""
    high = 2
    while not enough(high):
        if high >= limit:
            return None
        high = min(2 * high, limit)
    low = high // 2 if high > 2 else 1  # enough(low) is false (or low < 2)
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if enough(mid) else (mid, high)
    return high


def seeds_to_clear(gap: float, sd: float, level: float = LEVEL) -> int | None:
    """Fewest seeds n whose interval half-width t(n-1) * sd / sqrt(n) falls below `gap` (the distance from the
    observed mean to the boundary it must clear); None when no number of seeds up to MAX_SEEDS would."""
    if gap <= 0 or not math.isfinite(sd):
        return None
    if sd == 0:
        return 2
    return fewest(lambda n: t_quantile(0.5 + level / 2, n - 1) * sd / math.sqrt(n) < gap)


def spread_ratio(a: list[float], b: list[float], level: float = LEVEL) -> tuple[float, float, float] | None:
    """(ratio, low, high) of var(a) / var(b) with its F interval; None when a side has fewer than 2 values or
    b has no spread."""
    if len(a) < 2 or len(b) < 2 or statistics.variance(b) == 0:
        return None
    ratio, d1, d2 = statistics.variance(a) / statistics.variance(b), len(a) - 1, len(b) - 1
    upper, lower = f_quantile(0.5 + level / 2, d1, d2), f_quantile(0.5 - level / 2, d1, d2)
    return ratio, ratio / upper, ratio / lower


def seeds_to_separate_spreads(ratio: float, level: float = LEVEL) -> int | None:
    """Fewest seeds per side whose F interval of a variance ratio `ratio` (as observed) excludes 1."""
    if not math.isfinite(ratio) or ratio == 1:
        return None
    if ratio < 1:
        return fewest(lambda n: ratio < f_quantile(0.5 - level / 2, n - 1, n - 1))
    return fewest(lambda n: ratio > f_quantile(0.5 + level / 2, n - 1, n - 1))

"""The Optuna searcher of an optimize sweep: its space as Optuna distributions, the sampler, and the latency cap
as an Optuna constraint.

Ray's `OptunaSearch` takes a ready sampler but knows no constraints, and Optuna 5 deprecates a sampler's
`constraints_func` for `Trial.set_constraint`. So the searcher (a small subclass) sets the constraint
`latency - cap` (<= 0 is feasible) on the Optuna trial when Tune reports the trial complete, just before
telling the study its values: infeasible trials stay in the study, where TPE, NSGA-II and GP all read
`trial.constraints` to steer away from the infeasible region, and they never count as Pareto-optimal.
"""
from __future__ import annotations

import math
from typing import Mapping

import optuna
from ray.tune.search.optuna import OptunaSearch

# Checked on the classifier-grid table (benchmarks/searcher_replay.py, docs/search.md): on its first, noisy table
# TPE's 10 random start-up trials with a multivariate model did best at a third of the grid (0.877 of the grid's
# hypervolume, median of 20; 4 or 6 start-up trials 0.81, Optuna's univariate default 0.864); on the quiet rerun
# (2026-12-07) the same settings give 0.856 and no setting tried reaches 0.95. GP starts modelling after 4; NSGA-II
# evolves generations of 8 (its default first generation of 50 is random search for the whole budget).
SAMPLER_SETTINGS: dict[str, dict] = {
    "tpe": dict(n_startup_trials=10, multivariate=True),
    "nsga2": dict(population_size=8),
    "gp": dict(n_startup_trials=4),
    "random": {},
}


def optuna_space(params: Mapping[str, tuple]) -> dict[str, optuna.distributions.BaseDistribution]:
    """Optimize.params as Optuna distributions (an int range keeps its order: the samplers can model it)."""
    space = {}
    for name, (kind, *args) in params.items():
        if kind == "choice":
            space[name] = optuna.distributions.CategoricalDistribution(list(args[0]))
        elif kind == "int":
            low, high, step = (*args, 1)[:3]
            space[name] = optuna.distributions.IntDistribution(low, high, step=step)
        else:
            space[name] = optuna.distributions.FloatDistribution(args[0], args[1], log=kind == "loguniform")
    return space


def make_sampler(kind: str, seed: int, settings: Mapping | None = None) -> optuna.samplers.BaseSampler:
    """tpe | nsga2 | gp | random with this project's settings (SAMPLER_SETTINGS unless `settings` is given)."""
    options = dict(SAMPLER_SETTINGS[kind] if settings is None else settings)
    cls = {"tpe": optuna.samplers.TPESampler, "nsga2": optuna.samplers.NSGAIISampler,
           "gp": optuna.samplers.GPSampler, "random": optuna.samplers.RandomSampler}[kind]
    return cls(seed=seed, **options)


def constraint_value(result: Mapping | None, metric: str, cap: float) -> float:
    """metric - cap: <= 0 is feasible; a trial that did not report the metric counts as infeasible."""
    value = (result or {}).get(metric)
    return float(value) - cap if isinstance(value, (int, float)) and math.isfinite(value) else math.inf


class CappedOptunaSearch(OptunaSearch):
    """OptunaSearch that hands the sampler each finished trial's constraint value (see the module docstring)."""

    def __init__(self, *args, constraint_metric: str | None = None, cap: float | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._constraint_metric, self._cap = constraint_metric, cap

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False):
        ot_trial = self._ot_trials.get(trial_id)
        if self._cap is not None and ot_trial is not None and trial_id not in self._completed_trials:
            value = constraint_value(result, self._constraint_metric, self._cap)
            ot_trial.set_constraint(self._constraint_metric, value if math.isfinite(value) else 1e9)
        super().on_trial_complete(trial_id, result, error)


def search_algorithm(optimize, run: Mapping, cap: float | None) -> OptunaSearch:
    """The sweep's searcher: its space, objectives and sampler (`sampler` run field over the sweep's), the cap."""
    constrained = cap is not None and optimize.constraint is not None
    sampler = make_sampler(run.get("sampler") or optimize.sampler, run["search_seed"])
    return CappedOptunaSearch(space=optuna_space(optimize.params), metric=list(optimize.metrics),
                              mode=list(optimize.modes), sampler=sampler,
                              constraint_metric=optimize.constraint if constrained else None,
                              cap=cap if constrained else None)

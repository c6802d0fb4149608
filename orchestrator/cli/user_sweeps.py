"""FILE.py:VARIABLE: a sweep defined in the user's own file, loaded with one-line errors for the usual
mistakes (no such file, no such variable, not a Sweep) instead of a traceback."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from search_spaces import ResolvedSweep, Sweep, SweepError, get_sweep, parse_override, resolve


def load_sweep(name: str) -> Sweep:
    """A registered sweep name, or FILE.py:VARIABLE for a sweep defined in the user's own file."""
    return load_user_sweep(name) if ".py:" in name else get_sweep(name)


def parse_overrides(items: list[str] | None) -> dict:
    """The --set KEY=VALUE items as one dict."""
    return dict(parse_override(item) for item in items or [])


def resolve_args(args, check_models: bool = True) -> ResolvedSweep:
    """The sweep a command names (SWEEP, --preset, --set, --name), resolved and checked: SweepError on bad input."""
    return resolve(load_sweep(args.sweep), args.preset, parse_overrides(args.set), args.name, check_models=check_models)


def load_user_sweep(spec: str) -> Sweep:
    path, variable = spec.rsplit(":", 1)
    if not Path(path).is_file():
        raise SweepError(f"sweep file {path!r} does not exist (from {spec!r}; expected FILE.py:VARIABLE)")
    module_spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except Exception as err:  # the user's code: name the file and the error, not our call stack
        raise SweepError(f"sweep file {path!r} fails to import: {type(err).__name__}: {err}") from None
    if not hasattr(module, variable):
        found = sorted(name for name, value in vars(module).items() if isinstance(value, Sweep))
        raise SweepError(f"{path!r} defines no {variable!r}; its sweeps: {', '.join(found) or 'none'}")
    sweep = getattr(module, variable)
    if not isinstance(sweep, Sweep):
        raise SweepError(f"{path}:{variable} is of type {type(sweep).__name__}, not a search_spaces.Sweep")
    return sweep

"""Values placed in MLflow search filter strings. MLflow parses a filter as SQL-like text, so a value is
only ever a quoted literal that holds no quote, backtick or backslash: a crafted name cannot end the
literal early and select another experiment's runs, and a stray quote is a one-line error, not a crash."""
from __future__ import annotations

FORBIDDEN = set("'\"`\\\n\r")


def literal(value: str) -> str:
    """`value` as a single-quoted MLflow filter literal; ValueError if it could escape the quotes."""
    value = str(value)
    if FORBIDDEN & set(value):
        raise ValueError(f"{value!r} cannot be searched for in MLflow: it holds a quote or a backslash")
    return f"'{value}'"


"""Option checks shared by every layer that takes options (backends, Frank-Wolfe loops, the
rounding): each raises InvalidProblemError naming the option, so the CLI reports the field and
exits with code 2."""
from __future__ import annotations

import numpy as np

from .errors import InvalidProblemError


def check_choice(name: str, value, allowed) -> None:
    """value must be one of `allowed`."""
    if value not in allowed:
        raise InvalidProblemError(name, f"unknown value {value!r}; use one of: {', '.join(map(str, allowed))}")


def check_positive(name: str, value, allow_none: bool = False) -> None:
    """value must be a number > 0 (or None when allow_none)."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise InvalidProblemError(name, f"must be a positive number, got {value!r}")


def check_positive_int(name: str, value, allow_none: bool = False) -> None:
    """value must be an integer >= 1 (or None when allow_none)."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidProblemError(name, f"must be a positive integer, got {value!r}")


def check_nonnegative_int(name: str, value) -> None:
    """value must be an integer >= 0 (a seed, or a budget where 0 turns a stage off)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise InvalidProblemError(name, f"must be a non-negative integer, got {value!r}")


def check_unit_fraction(name: str, value, meaning: str = "") -> None:
    """value must be a number in (0, 1]; `meaning` (optional) says what the ends of the range do."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value <= 1.0:
        raise InvalidProblemError(name, f"must be a number in (0, 1], got {value!r}" + (f" ({meaning})" if meaning else ""))

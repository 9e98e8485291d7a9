"""Argument checks shared by the losses, the data generator and the metrics.

Each check returns the value in its canonical type or raises a ValueError
that names the owner and the bad parameter. Only the standard library: the
numpy-only parts of focal_det use them too.
"""
import math
from numbers import Integral
from typing import Any, Optional, Tuple


def check_choice(owner: str, name: str, value, choices) -> None:
    """ValueError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f'{owner}: {name} must be one of {choices}, '
                         f'got {value!r}')


def check_range(owner: str,
                name: str,
                value,
                low: float,
                high: float = float('inf'),
                low_open: bool = False,
                high_open: bool = False) -> float:
    """Return ``float(value)``; ValueError unless it is a finite number in
    the interval (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f'{owner}: {name} must be a number, got {value!r}')
    value = float(value)
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if too_low or too_high or not math.isfinite(value):
        lo, hi = '(' if low_open else '[', ')' if high_open else ']'
        raise ValueError(f'{owner}: {name} must lie in {lo}{low}, {high}{hi} '
                         f'and be finite, got {value!r}')
    return value


def check_int(owner: str, name: str, value: Any, minimum: int) -> int:
    """Return ``int(value)``; ValueError unless it is an integer >= minimum
    (bools are refused)."""
    if not isinstance(value, Integral) or isinstance(value, bool) \
            or value < minimum:
        raise ValueError(f'{owner}: {name} must be an integer >= {minimum}, '
                         f'got {value!r}')
    return int(value)


def check_int_pair(owner: str, name: str, value: Any, minimum: int,
                   maximum: Optional[int] = None) -> Tuple[int, int]:
    """Return ``(low, high)`` as ints; ValueError unless ``value`` is an
    ordered integer pair with both ends in ``[minimum, maximum]``
    (``maximum`` None: no upper limit)."""
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or not all(isinstance(end, Integral) and not isinstance(end, bool)
                       for end in value)
            or not minimum <= value[0] <= value[1]
            or (maximum is not None and value[1] > maximum)):
        upper = '' if maximum is None else f' <= {maximum}'
        raise ValueError(f'{owner}: {name} must be a pair (low, high) of '
                         f'integers with {minimum} <= low <= high{upper}, got '
                         f'{value!r}')
    return int(value[0]), int(value[1])

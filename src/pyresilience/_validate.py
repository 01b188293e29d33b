"""Small checks shared by the config dataclasses.

Each raises ``TypeError`` for a value of the wrong kind and ``ValueError`` for
a value out of range, naming ``Owner.field``, the value and what is allowed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any


def seconds(owner: str, name: str, value: object, *, allow_zero: bool) -> float:
    """Return ``value`` as float seconds; accept numbers and ``timedelta``."""
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"{owner}.{name} must be a number of seconds or a timedelta, "
            f"got {value!r} ({type(value).__name__})"
        )
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if math.isnan(number) or math.isinf(number):
        raise ValueError(f"{owner}.{name} must be a finite number, got {value!r}")
    if number < 0 or (number == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{owner}.{name} must be {bound} seconds, got {value!r}")
    return number


def integer(owner: str, name: str, value: object, *, minimum: int) -> int:
    """Return ``value`` if it is an ``int`` of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"{owner}.{name} must be an integer, got {value!r} ({type(value).__name__})"
        )
    if value < minimum:
        raise ValueError(f"{owner}.{name} must be >= {minimum}, got {value!r}")
    return value


def number(
    owner: str,
    name: str,
    value: object,
    *,
    low: float,
    high: float = math.inf,
    low_open: bool = False,
) -> float:
    """Return ``value`` as a float within ``[low, high]`` (or ``(low, high]``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"{owner}.{name} must be a number, got {value!r} ({type(value).__name__})"
        )
    try:
        result = float(value)
    except OverflowError:
        result = math.inf if value > 0 else -math.inf
    too_low = result <= low if low_open else result < low
    if math.isnan(result) or too_low or result > high:
        left = "(" if low_open else "["
        right = "]" if high != math.inf else ")"
        raise ValueError(
            f"{owner}.{name} must be in {left}{low:g}, {high:g}{right}, got {value!r}"
        )
    return result


def exception_types(
    owner: str, name: str, value: object
) -> tuple[type[BaseException], ...]:
    """Return ``value`` as a tuple of exception classes.

    Accepts one class or any iterable of classes.
    """
    items: Iterable[Any]
    if isinstance(value, type):
        items = (value,)
    elif isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise TypeError(
            f"{owner}.{name} must be an exception class or a tuple of them, "
            f"got {value!r}"
        )
    else:
        items = value
    result = tuple(items)
    for item in result:
        if not (isinstance(item, type) and issubclass(item, BaseException)):
            raise TypeError(
                f"{owner}.{name} must hold exception classes only, got {item!r}"
            )
    return result


def optional_callable(owner: str, name: str, value: object) -> None:
    """Check that ``value`` is ``None`` or callable."""
    if value is not None and not callable(value):
        raise TypeError(f"{owner}.{name} must be callable or None, got {value!r}")


def boolean(owner: str, name: str, value: object) -> bool:
    """Check that ``value`` is a ``bool``."""
    if not isinstance(value, bool):
        raise TypeError(f"{owner}.{name} must be True or False, got {value!r}")
    return value


def listeners(owner: str, value: object) -> tuple[Callable[..., Any], ...]:
    """Return ``value`` as a tuple of callables."""
    if value is None:
        return ()
    if callable(value):
        return (value,)
    if not isinstance(value, Iterable) or isinstance(value, (str, bytes)):
        raise TypeError(f"{owner}.listeners must be a list of callables, got {value!r}")
    result = tuple(value)
    for item in result:
        if not callable(item):
            raise TypeError(f"{owner}.listeners must hold callables, got {item!r}")
    return result

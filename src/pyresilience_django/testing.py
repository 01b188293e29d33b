"""Test aids: run the project's policies on a clock you control."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from pyresilience import Clock

from . import _runtime

__all__ = ["use_clock"]

C = TypeVar("C", bound=Clock)


@contextmanager
def use_clock(clock: C) -> Iterator[C]:
    """Rebuild the registry from the settings with ``clock``, for one block.

    Inside the block every policy reads time from ``clock`` (typically a
    :class:`pyresilience.testing.FakeClock`), so breaker cool-downs and
    rate-limit windows pass without waiting; ``override_settings`` inside
    the block keeps the clock. The previous registry, with its state, is
    back afterwards.

    Example::

        with use_clock(FakeClock()) as clock:
            ...  # trip the breaker
            clock.advance(30)
            ...  # the breaker lets a probe through
    """
    _runtime.push_clock(clock)
    try:
        yield clock
    finally:
        _runtime.pop_clock()

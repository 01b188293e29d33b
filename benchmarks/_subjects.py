"""The functions every case protects, so all cases do the same work."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

__all__ = [
    "RESULT",
    "FlakyError",
    "Unavailable",
    "make_aflaky",
    "make_flaky",
    "work",
    "awork",
]

#: What :func:`work` returns; a case returning anything else is broken.
RESULT = 42


class FlakyError(Exception):
    """Raised by the flaky functions on their failing attempts."""


class Unavailable(Exception):
    """A case cannot be built here (a library or binary is missing)."""


def work() -> int:
    """Return :data:`RESULT`; the protected function of every happy path."""
    return RESULT


async def awork() -> int:
    """Async twin of :func:`work`."""
    return RESULT


def make_flaky(failures: int = 2) -> Callable[[], int]:
    """Return a function that fails ``failures`` times, then succeeds, forever.

    Each protected call with at least ``failures + 1`` attempts therefore
    sees exactly ``failures`` retries and one success.
    """
    count = 0

    def flaky() -> int:
        nonlocal count
        count += 1
        if count <= failures:
            raise FlakyError("flaky attempt")
        count = 0
        return RESULT

    return flaky


def make_aflaky(failures: int = 2) -> Callable[[], Awaitable[int]]:
    """Async twin of :func:`make_flaky`."""
    count = 0

    async def aflaky() -> int:
        nonlocal count
        count += 1
        if count <= failures:
            raise FlakyError("flaky attempt")
        count = 0
        return RESULT

    return aflaky

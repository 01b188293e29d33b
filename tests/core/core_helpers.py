"""Test doubles shared by the core tests."""

from __future__ import annotations


class Flaky:
    """A callable failing ``failures`` times with ``error`` before returning."""

    def __init__(self, failures: int, error: type[Exception] = ConnectionError):
        self.failures = failures
        self.error = error
        self.calls = 0

    def __call__(self, *args: object, **kwargs: object) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error(f"failure {self.calls}")
        return "ok"


class AsyncFlaky(Flaky):
    """The async twin of :class:`Flaky`."""

    async def __call__(self, *args: object, **kwargs: object) -> str:  # type: ignore[override]
        return Flaky.__call__(self, *args, **kwargs)

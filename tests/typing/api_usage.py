"""Type-checked only (never run): the public API as users write it.

``test_typing.py`` runs mypy --strict on this file; a signature that stops
flowing through ``@resilient`` or the registry fails the suite.
"""

from __future__ import annotations

from typing import assert_type

from pyresilience import (
    CircuitBreaker,
    CircuitState,
    ResilienceConfig,
    ResilienceRegistry,
    RetryConfig,
    resilient,
)


@resilient(retry=RetryConfig(max_attempts=2))
def add(a: int, b: int) -> int:
    return a + b


@resilient
async def fetch(url: str) -> bytes:
    return url.encode()


registry = ResilienceRegistry()
registry.register("api", ResilienceConfig(retry=RetryConfig()))


@registry.decorator("api")
def lookup(key: str) -> dict[str, int]:
    return {key: 1}


async def use() -> None:
    assert_type(add(1, 2), int)
    assert_type(await fetch("x"), bytes)
    assert_type(lookup("k"), dict[str, int])
    assert_type(CircuitBreaker().state, CircuitState)
    assert_type(registry.names, list[str])

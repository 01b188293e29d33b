"""Fixtures for the FastAPI adapter tests: registries on a fake clock, apps."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from _fastapi_support import MakeApp
from fastapi import FastAPI

from pyresilience import ResilienceRegistry
from pyresilience.testing import FakeClock
from pyresilience_fastapi import resilience_lifespan


@pytest.fixture
def clock() -> FakeClock:
    """A clock that only moves when a test advances it."""
    return FakeClock()


@pytest.fixture
def registry(clock: FakeClock) -> Iterator[ResilienceRegistry]:
    """An empty registry on the fake clock, shut down after the test."""
    registry = ResilienceRegistry(clock=clock)
    yield registry
    if registry.is_open:
        registry.shutdown(timeout=1.0)


@pytest.fixture
def make_app(registry: ResilienceRegistry) -> MakeApp:
    """Build a FastAPI app whose lifespan runs ``registry`` (or another)."""

    def make(reg: ResilienceRegistry | None = None, **options: Any) -> FastAPI:
        return FastAPI(
            lifespan=resilience_lifespan(registry if reg is None else reg, **options)
        )

    return make

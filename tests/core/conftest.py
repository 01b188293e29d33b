"""Fixtures shared by the core tests."""

from __future__ import annotations

import pytest

from pyresilience import MetricsCollector, ResilienceRegistry
from pyresilience.testing import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    """A virtual clock; sleeps advance it instantly."""
    return FakeClock()


@pytest.fixture
def registry(clock: FakeClock) -> ResilienceRegistry:
    """A fresh registry on the virtual clock."""
    return ResilienceRegistry(clock=clock)


@pytest.fixture
def metrics() -> MetricsCollector:
    """An event counter to pass as a listener."""
    return MetricsCollector()

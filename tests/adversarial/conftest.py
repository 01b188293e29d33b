"""Fixtures shared by the adversarial tests of the core."""

from __future__ import annotations

import pytest

from pyresilience import ResilienceRegistry
from pyresilience.testing import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    """A virtual clock; sleeps advance it instantly."""
    return FakeClock()


@pytest.fixture
def registry(clock: FakeClock) -> ResilienceRegistry:
    """A fresh registry on the virtual clock."""
    return ResilienceRegistry(clock=clock)

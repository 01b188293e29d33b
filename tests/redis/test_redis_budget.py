"""The shared retry budget against a real redis-server."""

from __future__ import annotations

import time
from collections.abc import Callable

from pyresilience import RetryBudgetConfig
from pyresilience.stores import RedisStore


def test_one_bucket_is_shared_by_all_stores(
    make_store: Callable[..., RedisStore],
) -> None:
    """Retry tokens spent by one store are gone for the other."""
    config = RetryBudgetConfig(max_retries=3, refill_rate=0.0)
    one = make_store().retry_budget("api", config)
    two = make_store().retry_budget("api", config)

    taken = [b.try_acquire(0.0) for b in (one, two, one, two, one)]

    assert taken == [True, True, True, False, False]
    assert two.available(0.0) == 0.0


def test_the_bucket_refills_by_the_server_clock(store: RedisStore) -> None:
    """Tokens come back at refill_rate per second, up to max_retries."""
    budget = store.retry_budget("api", RetryBudgetConfig(max_retries=2, refill_rate=10))
    assert budget.try_acquire(0.0) and budget.try_acquire(0.0)
    assert not budget.try_acquire(0.0)

    time.sleep(0.15)

    assert 1.0 <= budget.available(0.0) < 2.0
    assert budget.try_acquire(0.0)
    time.sleep(0.5)
    assert budget.available(0.0) == 2.0


def test_a_fresh_bucket_is_full(store: RedisStore) -> None:
    """A name never used has max_retries tokens and reading them takes none."""
    budget = store.retry_budget("api", RetryBudgetConfig(max_retries=5))

    assert budget.available(0.0) == 5.0
    assert budget.available(0.0) == 5.0

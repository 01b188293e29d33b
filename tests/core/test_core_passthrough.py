"""pass_through: a framework's answers cross a policy as answers, not failures."""

from __future__ import annotations

import asyncio

import pytest

from pyresilience import (
    CircuitBreakerConfig,
    CircuitState,
    FallbackConfig,
    ResilienceConfig,
    ResilienceRegistry,
    RetryConfig,
)
from pyresilience.config import pass_through
from pyresilience.testing import FakeClock


class NotFound(Exception):
    """Stands in for a framework's 404."""


class Gone(NotFound):
    """A more specific answer the user may want handled."""


def policy_config(**fallback: object) -> ResilienceConfig:
    return ResilienceConfig(
        retry=RetryConfig(max_attempts=3, delay=0),
        circuit_breaker=CircuitBreakerConfig(failure_threshold=1),
        fallback=FallbackConfig(**fallback) if fallback else None,  # type: ignore[arg-type]
    )


def test_answers_are_not_retried_counted_or_swallowed() -> None:
    """An answer runs once, leaves the breaker closed and skips the fallback."""
    registry = ResilienceRegistry(clock=FakeClock())
    registry.register("p", pass_through(policy_config(handler="fb"), (NotFound,)))
    calls = []

    def answer() -> None:
        calls.append(1)
        raise NotFound

    with pytest.raises(NotFound):
        registry.policy("p").call(answer)
    assert calls == [1]
    assert registry.status()["p"].breaker.state is CircuitState.CLOSED


def test_other_errors_still_fall_back() -> None:
    """Failures other than the answers keep every pattern's behaviour."""
    registry = ResilienceRegistry(clock=FakeClock())
    registry.register("p", pass_through(policy_config(handler="fb"), (NotFound,)))

    def broken() -> None:
        raise ConnectionError

    assert registry.policy("p").call(broken) == "fb"


def test_answers_the_user_named_reach_the_fallback() -> None:
    """A kind listed in fallback_on by the user is handled, not re-raised."""
    config = policy_config(handler="gone", fallback_on=(Gone, ConnectionError))
    registry = ResilienceRegistry(clock=FakeClock())
    registry.register("p", pass_through(config, (NotFound,)))

    def gone() -> None:
        raise Gone

    assert registry.policy("p").call(gone) == "gone"


async def test_async_fallback_handler_is_wrapped_too() -> None:
    """An async handler re-raises answers and still handles failures."""

    async def handler(exc: BaseException) -> str:
        await asyncio.sleep(0)
        return "fb"

    registry = ResilienceRegistry(clock=FakeClock())
    registry.register("p", pass_through(policy_config(handler=handler), (NotFound,)))

    async def answer() -> None:
        raise NotFound

    async def broken() -> None:
        raise ConnectionError

    with pytest.raises(NotFound):
        await registry.policy("p").acall(answer)
    assert await registry.policy("p").acall(broken) == "fb"


def test_user_config_is_untouched_and_unchanged_configs_are_reused() -> None:
    """The original is never mutated; nothing to add returns it as is."""
    config = policy_config(handler="fb")
    copied = pass_through(config, (NotFound,))
    assert config.retry.ignore_on == () and copied.retry.ignore_on == (NotFound,)
    assert pass_through(copied, (NotFound,)) is copied
    bare = ResilienceConfig(retry=RetryConfig(ignore_on=(Exception,)))
    assert pass_through(bare, (NotFound,)) is bare

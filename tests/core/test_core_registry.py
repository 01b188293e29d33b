"""The registry: shared state per name, lazy resolution, handles and guards."""

from __future__ import annotations

import asyncio

import pytest

from pyresilience import (
    BulkheadConfig,
    BulkheadFullError,
    CircuitBreakerConfig,
    CircuitOpenError,
    CircuitState,
    RateLimiterConfig,
    ResilienceConfig,
    ResilienceRegistry,
    RetryConfig,
    UnknownPolicyError,
)


def breaker_config(threshold: int = 2) -> ResilienceConfig:
    return ResilienceConfig(
        circuit_breaker=CircuitBreakerConfig(failure_threshold=threshold)
    )


def test_functions_under_one_name_share_a_breaker(registry) -> None:
    """Failures of one function open the breaker for every function of the name."""
    registry.register("payments", breaker_config(2))

    @registry.decorator("payments")
    def charge() -> None:
        raise ConnectionError

    @registry.decorator("payments")
    def refund() -> str:
        return "ok"

    for _ in range(2):
        with pytest.raises(ConnectionError):
            charge()
    with pytest.raises(CircuitOpenError):
        refund()


def test_decoration_before_registration_is_lazy(registry) -> None:
    """A function decorated before its name exists resolves on first call."""

    @registry.decorator("later")
    def fn() -> str:
        return "ok"

    with pytest.raises(UnknownPolicyError) as caught:
        fn()
    registry.register("later", ResilienceConfig(retry=RetryConfig(delay=0)))
    assert fn() == "ok"
    assert "later" in str(caught.value)


def test_unknown_name_error_lists_registered_names(registry) -> None:
    """The error names the missing policy and the registered ones."""
    registry.register("a", ResilienceConfig())
    registry.register("b", ResilienceConfig())
    with pytest.raises(UnknownPolicyError) as caught:
        registry.policy("c")
    message = str(caught.value)
    assert "'c'" in message and "'a', 'b'" in message
    assert isinstance(caught.value, KeyError)


def test_default_serves_unknown_names_with_separate_state(registry) -> None:
    """Unregistered names use the default config, each with its own breaker."""
    registry.set_default(breaker_config(1))
    with pytest.raises(ConnectionError):
        registry.policy("x").call(_raise)
    assert registry.policy("x").circuit_breaker.state is CircuitState.OPEN
    assert registry.policy("y").circuit_breaker.state is CircuitState.CLOSED
    assert registry.get("x") is None
    assert registry.get_or_default("x") is registry.default


def _raise() -> None:
    raise ConnectionError


def test_reregistering_takes_effect_on_the_next_call(registry) -> None:
    """A new config applies from the next call of already-decorated functions."""
    registry.register("api", ResilienceConfig(retry=RetryConfig(max_attempts=1)))
    calls = []

    @registry.decorator("api")
    def fn() -> None:
        calls.append(1)
        raise ConnectionError

    with pytest.raises(ConnectionError):
        fn()
    registry.register(
        "api", ResilienceConfig(retry=RetryConfig(max_attempts=3, delay=0))
    )
    with pytest.raises(ConnectionError):
        fn()
    assert len(calls) == 4


def test_reregistering_keeps_unchanged_breaker_state(registry) -> None:
    """Changing only the retry keeps the breaker's live state."""
    breaker = CircuitBreakerConfig(failure_threshold=1)
    registry.register("api", ResilienceConfig(circuit_breaker=breaker))
    with pytest.raises(ConnectionError):
        registry.policy("api").call(_raise)
    registry.register(
        "api", ResilienceConfig(circuit_breaker=breaker, retry=RetryConfig(delay=0))
    )
    assert registry.policy("api").circuit_breaker.state is CircuitState.OPEN


def test_names_unregister_and_clear(registry) -> None:
    """names is sorted; unregister and clear remove policies."""
    for name in ("b", "a", "c"):
        registry.register(name, ResilienceConfig())
    assert registry.names == ["a", "b", "c"]
    registry.unregister("b")
    assert registry.names == ["a", "c"] and "b" not in registry
    registry.clear()
    assert registry.names == [] and len(registry) == 0


@pytest.mark.parametrize("name", ["", None, 3])
def test_bad_names_are_refused(registry, name) -> None:
    """Policy names must be non-empty strings."""
    with pytest.raises(TypeError, match="non-empty string"):
        registry.register(name, ResilienceConfig())


def test_register_requires_a_config(registry) -> None:
    """register() refuses anything but a ResilienceConfig."""
    with pytest.raises(TypeError, match="ResilienceConfig"):
        registry.register("x", {"retry": {}})


async def test_policy_call_and_acall(registry) -> None:
    """policy.call runs sync functions and policy.acall async ones."""
    registry.register("p", ResilienceConfig(retry=RetryConfig(delay=0)))
    policy = registry.policy("p")

    async def double(x: int) -> int:
        return 2 * x

    assert policy.call(lambda x: x + 1, 1) == 2
    assert await policy.acall(double, 4) == 8
    with pytest.raises(TypeError, match="acall"):
        policy.call(double, 1)
    with pytest.raises(TypeError, match="not async"):
        await policy.acall(lambda: 1)


def test_guard_admits_and_records(registry) -> None:
    """A guard records the block's failure and rejects once the breaker opens."""
    registry.register("in", breaker_config(1))
    policy = registry.policy("in")
    with pytest.raises(ConnectionError), policy.guard():
        raise ConnectionError
    with pytest.raises(CircuitOpenError), policy.guard():
        pytest.fail("a rejected block must not run")


async def test_async_guard_holds_bulkhead_until_exit(registry) -> None:
    """The bulkhead slot is held for the whole block."""
    registry.register(
        "in",
        ResilienceConfig(
            bulkhead=BulkheadConfig(max_concurrent=1),
            rate_limiter=RateLimiterConfig(max_calls=100),
        ),
    )
    policy = registry.policy("in")
    async with policy.aguard():
        assert policy.status().bulkhead.in_flight == 1
        with pytest.raises(BulkheadFullError):
            async with policy.aguard():
                pass
    assert policy.status().bulkhead.in_flight == 0
    assert policy.status().rate_limiter.used == 1


async def test_cancelled_guard_gives_back_slot_and_permit(registry) -> None:
    """Cancelling a guarded block returns its slot and its rate-limit permit."""
    registry.register(
        "in",
        ResilienceConfig(
            bulkhead=BulkheadConfig(max_concurrent=1),
            rate_limiter=RateLimiterConfig(max_calls=1, period=60),
        ),
    )
    policy = registry.policy("in")
    entered = asyncio.Event()

    async def hold() -> None:
        async with policy.aguard():
            entered.set()
            await asyncio.sleep(3600)

    task = asyncio.ensure_future(hold())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    status = policy.status()
    assert status.bulkhead.in_flight == 0
    assert status.rate_limiter.used == 0


def test_status_and_reset(registry) -> None:
    """status() reports breaker state; reset() closes the breaker."""
    registry.register("api", breaker_config(1))
    with pytest.raises(ConnectionError):
        registry.policy("api").call(_raise)
    assert registry.status()["api"].breaker.state is CircuitState.OPEN
    assert registry.status()["api"].as_dict()["state"] == "open"
    registry.reset("api")
    assert registry.status()["api"].breaker.state is CircuitState.CLOSED
    registry.register("plain", ResilienceConfig())
    with pytest.raises(ValueError, match="no circuit breaker"):
        registry.reset("plain")


def test_two_registries_never_share_state() -> None:
    """The same name in two registries has two breakers."""
    first, second = ResilienceRegistry(), ResilienceRegistry()
    for registry in (first, second):
        registry.register("api", breaker_config(1))
    with pytest.raises(ConnectionError):
        first.policy("api").call(_raise)
    assert first.policy("api").circuit_breaker.state is CircuitState.OPEN
    assert second.policy("api").circuit_breaker.state is CircuitState.CLOSED


def test_shutdown_refuses_new_calls_and_open_reopens(registry) -> None:
    """After shutdown calls raise ShutdownError; open() accepts them again."""
    from pyresilience import ShutdownError

    registry.register("api", ResilienceConfig())
    assert registry.shutdown(timeout=0.1) is True
    assert not registry.is_open
    with pytest.raises(ShutdownError):
        registry.policy("api").call(lambda: 1)
    registry.open()
    assert registry.policy("api").call(lambda: 1) == 1


def test_shutdown_drains_in_flight_calls(registry) -> None:
    """shutdown waits for running calls and reports whether they finished."""
    import threading

    registry.register("api", ResilienceConfig())
    release = threading.Event()
    worker = threading.Thread(
        target=registry.policy("api").call, args=(release.wait, 5)
    )
    worker.start()
    while registry.in_flight == 0:
        pass
    assert registry.shutdown(timeout=0.02) is False
    release.set()
    worker.join(5)
    assert registry.in_flight == 0
    assert registry.shutdown(timeout=0.1) is True


async def test_guard_without_breaker_lets_the_block_error_through(registry) -> None:
    """A guard with no breaker re-raises the block's own error, sync and async."""
    registry.register(
        "in", ResilienceConfig(rate_limiter=RateLimiterConfig(max_calls=5))
    )
    policy = registry.policy("in")
    with pytest.raises(ValueError, match="own error"), policy.guard():
        raise ValueError("the block's own error")
    with pytest.raises(ValueError, match="own error"):
        async with policy.aguard():
            raise ValueError("the block's own error")

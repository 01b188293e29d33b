"""@resilient(name) on plain functions, sync and async."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.test import override_settings

from pyresilience import CircuitOpenError, CircuitState
from pyresilience.testing import FakeClock
from pyresilience_django import get_registry, resilient

RETRY = {"max_attempts": 3, "delay": 0, "jitter": False}
SETTING = {
    "POLICIES": {
        "retrying": {"retry": RETRY},
        "breaker": {
            "circuit_breaker": {
                "failure_threshold": 2,
                "recovery_timeout": 30,
                "success_threshold": 1,
            }
        },
        "both": {
            "retry": RETRY,
            "circuit_breaker": {"failure_threshold": 1, "recovery_timeout": 30},
        },
        "cached": {"cache": {"max_size": 8, "ttl": 60}},
    }
}

pytestmark = pytest.mark.usefixtures("resilience_setting")


@pytest.fixture
def resilience_setting() -> Any:
    """Every test here runs under SETTING."""
    with override_settings(RESILIENCE=SETTING):
        yield


class Flaky:
    """Fails ``failures`` times with ``error``, then returns "ok"."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures = failures
        self.error = error or RuntimeError("flaky")
        self.calls = 0

    def __call__(self, *args: Any) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "ok"


def test_sync_function_is_retried() -> None:
    """A sync function under a retry policy runs until it succeeds."""
    flaky = Flaky(2)

    assert resilient("retrying")(flaky)() == "ok"
    assert flaky.calls == 3


async def test_async_function_is_retried() -> None:
    """An async function under a retry policy runs until it succeeds."""
    flaky = Flaky(2)

    @resilient("retrying")
    async def call() -> str:
        return flaky()

    assert await call() == "ok"
    assert flaky.calls == 3


def test_async_function_stays_async_and_keeps_metadata() -> None:
    """The decorator keeps coroutine functions coroutine functions, and names."""

    async def fetch_rates(currency: str) -> str:
        """Docs."""
        return currency

    wrapped = resilient("retrying")(fetch_rates)

    assert inspect.iscoroutinefunction(wrapped)
    assert wrapped.__name__ == "fetch_rates"
    assert wrapped.__doc__ == "Docs."
    assert not inspect.iscoroutinefunction(resilient("retrying")(len))


async def test_sync_and_async_callers_share_one_breaker() -> None:
    """Failures of sync callers open the breaker async callers use."""
    failing = resilient("breaker")(Flaky(99))
    ran = []

    @resilient("breaker")
    async def other() -> None:
        ran.append(1)

    for _ in range(2):
        with pytest.raises(RuntimeError):
            failing()
    with pytest.raises(CircuitOpenError) as caught:
        await other()

    assert ran == []
    assert caught.value.policy == "breaker"


@pytest.mark.parametrize("error", [Http404("gone"), PermissionDenied("no")])
def test_django_answers_are_not_retried(error: Exception) -> None:
    """Http404 and PermissionDenied reach the caller after a single run."""
    flaky = Flaky(99, error)

    with pytest.raises(type(error)) as caught:
        resilient("retrying")(flaky)()

    assert caught.value is error
    assert flaky.calls == 1


@pytest.mark.parametrize("error", [Http404("gone"), PermissionDenied("no")])
async def test_django_answers_are_not_retried_async(error: Exception) -> None:
    """Async twin: Http404 and PermissionDenied are raised at once."""
    flaky = Flaky(99, error)

    @resilient("retrying")
    async def call() -> str:
        return flaky()

    with pytest.raises(type(error)):
        await call()

    assert flaky.calls == 1


def test_django_answers_never_open_the_breaker() -> None:
    """However many 404s, the breaker stays closed and keeps admitting calls."""
    missing = resilient("both")(Flaky(99, Http404("gone")))

    for _ in range(5):
        with pytest.raises(Http404):
            missing()

    state = get_registry().status()["both"].breaker.state
    assert state is CircuitState.CLOSED


def test_django_answers_are_not_cached() -> None:
    """A 404 is raised again on the next call, not served from the cache."""
    flaky = Flaky(1, Http404("gone"))
    cached = resilient("cached")(flaky)

    with pytest.raises(Http404):
        cached("key")
    assert cached("key") == "ok"
    assert cached("key") == "ok"

    assert flaky.calls == 2


def test_registry_configs_say_that_answers_are_ignored() -> None:
    """The registry's copy of a policy lists Django's answers in ``ignore_on``."""
    config = get_registry().get("both")

    assert config is not None
    assert config.retry is not None and config.circuit_breaker is not None
    assert Http404 in config.retry.ignore_on
    assert PermissionDenied in config.circuit_breaker.ignore_on


def test_breaker_recovers_on_the_fake_clock(clock: FakeClock) -> None:
    """After recovery_timeout of virtual time a probe runs and closes it."""
    flaky = Flaky(2)
    call = resilient("breaker")(flaky)
    for _ in range(2):
        with pytest.raises(RuntimeError):
            call()
    with pytest.raises(CircuitOpenError):
        call()

    clock.advance(30)

    assert call() == "ok"
    assert get_registry().status()["breaker"].breaker.state is CircuitState.CLOSED


def test_decoration_before_settings_exist() -> None:
    """A function decorated with a name that appears only later still works."""
    flaky = Flaky(1)
    call = resilient("later")(flaky)

    with override_settings(RESILIENCE={"POLICIES": {"later": {"retry": RETRY}}}):
        assert call() == "ok"

    assert flaky.calls == 2


def test_bare_decorator_is_a_clear_type_error() -> None:
    """@resilient without a name says how to use it."""
    with pytest.raises(TypeError, match=r'@resilient\("payment-api"\)'):
        resilient(lambda: None)  # type: ignore[arg-type]


def test_empty_name_is_rejected() -> None:
    """An empty policy name is a ValueError at decoration time."""
    with pytest.raises(ValueError, match="non-empty"):
        resilient(" ")

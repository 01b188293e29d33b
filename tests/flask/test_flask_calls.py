"""Outbound calls: resilience.call, acall and @protect inside Flask apps."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask, abort, current_app, request

from pyresilience import CircuitState
from pyresilience_flask import EXTENSION_KEY, Resilience

MakeApp = Callable[..., Flask]

RETRY_3 = {"retry": {"max_attempts": 3, "delay": 0}}
BREAKER_2 = {"circuit_breaker": {"failure_threshold": 2, "recovery_timeout": 60}}


class Flaky:
    """A callable that fails ``failures`` times, then returns ``"ok"``."""

    def __init__(self, failures: int, error: BaseException | None = None) -> None:
        self.failures = failures
        self.error = error or ConnectionError("boom")
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "ok"


def test_call_runs_the_function_through_the_named_policy(
    make_app: MakeApp, resilience: Resilience
) -> None:
    """resilience.call retries a failing function per the app's policy."""
    app = make_app(RESILIENCE_POLICIES={"dep": RETRY_3})
    flaky = Flaky(failures=2)

    @app.get("/")
    def view() -> str:
        return resilience.call("dep", flaky)

    response = app.test_client().get("/")

    assert response.status_code == 200
    assert response.text == "ok"
    assert flaky.calls == 3


def test_call_passes_positional_and_keyword_arguments(
    make_app: MakeApp, resilience: Resilience
) -> None:
    """Arguments after the function reach it unchanged, names included."""
    app = make_app(RESILIENCE_POLICIES={"dep": RETRY_3})

    def charge(amount: float, *, currency: str) -> str:
        return f"{amount:.2f} {currency}"

    with app.app_context():
        assert resilience.call("dep", charge, 12.5, currency="EUR") == "12.50 EUR"


def test_protect_resolves_the_app_at_call_time(
    make_app: MakeApp, resilience: Resilience
) -> None:
    """A function decorated before any app exists uses each caller's policy."""
    flaky = Flaky(failures=10**6)

    @resilience.protect("dep")
    def fetch() -> str:
        return flaky()

    patient = make_app("patient", RESILIENCE_POLICIES={"dep": RETRY_3})
    hasty = make_app("hasty", RESILIENCE_POLICIES={"dep": {"retry": None}})

    with hasty.app_context(), pytest.raises(ConnectionError):
        fetch()
    assert flaky.calls == 1

    with patient.app_context(), pytest.raises(ConnectionError):
        fetch()
    assert flaky.calls == 1 + 3


def test_protect_keeps_metadata_and_async_nature(resilience: Resilience) -> None:
    """@protect keeps the name and docstring and leaves async functions async."""

    @resilience.protect("dep")
    def sync_fn() -> None:
        """Sync doc."""

    @resilience.protect("dep")
    async def async_fn() -> None:
        """Async doc."""

    assert sync_fn.__name__ == "sync_fn"
    assert sync_fn.__doc__ == "Sync doc."
    assert not inspect.iscoroutinefunction(sync_fn)
    assert async_fn.__name__ == "async_fn"
    assert inspect.iscoroutinefunction(async_fn)


def test_protect_on_a_view_retries_the_view(
    make_app: MakeApp, resilience: Resilience
) -> None:
    """@protect under @app.route runs the view itself through the pipeline."""
    app = make_app(RESILIENCE_POLICIES={"dep": RETRY_3})
    flaky = Flaky(failures=1)

    @app.get("/")
    @resilience.protect("dep")
    def view() -> str:
        return flaky()

    assert app.test_client().get("/").text == "ok"
    assert flaky.calls == 2


@pytest.mark.parametrize("status", [400, 404, 409])
def test_abort_is_neither_retried_nor_counted(
    make_app: MakeApp, resilience: Resilience, status: int
) -> None:
    """abort() inside a protected call runs once and leaves the breaker closed."""
    app = make_app(
        RESILIENCE_POLICIES={
            "dep": {
                **RETRY_3,
                "circuit_breaker": {"failure_threshold": 1, "recovery_timeout": 60},
            }
        }
    )
    calls = []

    def lookup() -> None:
        calls.append(1)
        abort(status)

    @app.get("/")
    def view() -> str:
        return resilience.call("dep", lookup)

    client = app.test_client()
    responses = [client.get("/").status_code for _ in range(3)]

    assert responses == [status] * 3
    assert len(calls) == 3
    assert _state(app, "dep") is CircuitState.CLOSED


def test_fallback_does_not_swallow_abort(
    make_app: MakeApp, resilience: Resilience
) -> None:
    """A broad fallback still turns real failures into its value, not aborts."""
    policies = {"dep": {"fallback": {"handler": "cached quote"}}}
    app = make_app(RESILIENCE_POLICIES=policies)

    @app.get("/missing")
    def missing() -> str:
        return resilience.call("dep", abort, 404)

    @app.get("/broken")
    def broken() -> str:
        return resilience.call("dep", Flaky(failures=1))

    client = app.test_client()

    assert client.get("/missing").status_code == 404
    assert client.get("/broken").text == "cached quote"


def test_callable_fallback_is_kept_for_real_failures(
    make_app: MakeApp, resilience: Resilience
) -> None:
    """A function fallback gets the exception; aborts bypass it."""
    from pyresilience import FallbackConfig, ResilienceConfig

    seen: list[BaseException] = []

    def handler(exc: BaseException) -> str:
        seen.append(exc)
        return "fallback"

    config = ResilienceConfig(fallback=FallbackConfig(handler=handler))
    app = make_app(RESILIENCE_POLICIES={"dep": config})

    with app.test_request_context():
        assert resilience.call("dep", Flaky(failures=1)) == "fallback"
        with pytest.raises(Exception) as info:
            resilience.call("dep", abort, 410)

    assert getattr(info.value, "code", None) == 410
    assert len(seen) == 1
    assert isinstance(seen[0], ConnectionError)


async def test_acall_runs_an_async_function(
    make_app: MakeApp, resilience: Resilience
) -> None:
    """acall awaits a coroutine function through the policy, with retries."""
    app = make_app(RESILIENCE_POLICIES={"dep": RETRY_3})
    attempts = []

    async def fetch(value: int) -> int:
        attempts.append(value)
        if len(attempts) < 2:
            raise ConnectionError("once")
        return value * 2

    with app.app_context():
        assert await resilience.acall("dep", fetch, 21) == 42

    assert attempts == [21, 21]


def test_sync_and_async_views_share_one_breaker(
    make_app: MakeApp, resilience: Resilience
) -> None:
    """Failures from a sync view open the breaker an async view then meets."""
    app = make_app(RESILIENCE_POLICIES={"dep": BREAKER_2})
    async_calls = []

    @app.get("/sync")
    def sync_view() -> str:
        return resilience.call("dep", Flaky(failures=1))

    @app.get("/async")
    async def async_view() -> str:
        async def fetch() -> str:
            async_calls.append(1)
            return "async ok"

        return await resilience.acall("dep", fetch)

    client = app.test_client()
    assert client.get("/async").text == "async ok"
    assert [client.get("/sync").status_code for _ in range(2)] == [500, 500]

    response = client.get("/async")

    assert response.status_code == 503
    assert len(async_calls) == 1


def test_protected_async_view_shares_the_breaker_with_call(
    make_app: MakeApp, resilience: Resilience
) -> None:
    """@protect on an async view and call() in a sync view use one breaker."""
    app = make_app(RESILIENCE_POLICIES={"dep": BREAKER_2})

    @app.get("/async")
    @resilience.protect("dep")
    async def async_view() -> str:
        raise ConnectionError("down")

    @app.get("/sync")
    def sync_view() -> str:
        return resilience.call("dep", lambda: "sync ok")

    client = app.test_client()
    assert [client.get("/async").status_code for _ in range(2)] == [500, 500]

    assert client.get("/sync").status_code == 503


def test_request_context_is_usable_under_a_sync_timeout(
    make_app: MakeApp, resilience: Resilience
) -> None:
    """A protected function run in a timeout worker still sees request and app."""
    app = make_app(RESILIENCE_POLICIES={"dep": {"timeout": {"seconds": 5}}})
    threads = []

    def handler() -> str:
        threads.append(threading.get_ident())
        return f"{current_app.name}:{request.args['who']}:{request.path}"

    @app.get("/hello")
    def view() -> str:
        threads.append(threading.get_ident())
        return resilience.call("dep", handler)

    response = app.test_client().get("/hello?who=ada")

    assert response.text == "app:ada:/hello"
    assert threads[0] != threads[1], "the timeout should run the call elsewhere"


def test_request_context_is_usable_in_an_async_call_with_a_timeout(
    make_app: MakeApp, resilience: Resilience
) -> None:
    """An async protected call under a timeout still sees the request."""
    app = make_app(RESILIENCE_POLICIES={"dep": {"timeout": {"seconds": 5}}})

    @app.get("/hello")
    async def view() -> str:
        async def handler() -> str:
            return f"{current_app.name}:{request.args['who']}"

        return await resilience.acall("dep", handler)

    assert app.test_client().get("/hello?who=grace").text == "app:grace"


def _state(app: Flask, name: str) -> CircuitState:
    breaker = app.extensions[EXTENSION_KEY].policy(name).status().breaker
    assert breaker is not None
    return breaker.state

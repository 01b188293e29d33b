"""Calls made inside streaming bodies and background tasks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import pytest
from _fastapi_support import MakeApp, RawExchange, http_scope
from fastapi import BackgroundTasks, Depends, FastAPI
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient

from pyresilience import (
    CircuitBreakerConfig,
    CircuitOpenError,
    CircuitState,
    ResilienceConfig,
    ResilienceRegistry,
    RetryConfig,
)
from pyresilience_fastapi import PolicyHandle, resilience

Api = Annotated[PolicyHandle, Depends(resilience("api"))]


def retrying(max_attempts: int = 3, threshold: int = 5) -> ResilienceConfig:
    return ResilienceConfig(
        retry=RetryConfig(max_attempts=max_attempts, delay=0, jitter=False),
        circuit_breaker=CircuitBreakerConfig(failure_threshold=threshold),
    )


class Flaky:
    """Fails ``failures`` times, then answers ``"ok"``."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.attempts = 0

    async def __call__(self) -> str:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise ConnectionError(f"attempt {self.attempts} failed")
        return "ok"


async def run_raw(app: FastAPI, path: str) -> list[dict[str, Any]]:
    """Call ``app`` once over raw ASGI and return every message it sent."""
    messages: list[dict[str, Any]] = []
    exchange = RawExchange(messages.append)
    async with app.router.lifespan_context(app):
        try:
            await app(http_scope(path), exchange.receive, exchange.send)
        except Exception as exc:  # the server's business; keep what was sent
            messages.append({"type": "raised", "error": exc})
    return messages


def contains(exc: BaseException | None, kind: type[BaseException]) -> bool:
    """Whether ``kind`` is ``exc``, its cause, or inside an exception group."""
    if exc is None:
        return False
    if isinstance(exc, kind):
        return True
    inner = getattr(exc, "exceptions", ())  # older Starlette raises a group
    return contains(exc.__cause__, kind) or any(contains(e, kind) for e in inner)


def starts(messages: list[dict[str, Any]]) -> int:
    return sum(m["type"] == "http.response.start" for m in messages)


async def test_retried_call_inside_a_stream_starts_the_response_once(
    make_app: MakeApp, registry: ResilienceRegistry
) -> None:
    """Retries inside the body happen after the start, which is sent once."""
    registry.register("api", retrying(max_attempts=3))
    app = make_app()
    flaky = Flaky(failures=2)

    @app.get("/stream")
    async def stream(api: Api) -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            yield b"quote: "
            yield (await api.call(flaky)).encode()

        return StreamingResponse(body())

    messages = await run_raw(app, "/stream")

    assert starts(messages) == 1
    assert messages[0]["status"] == 200
    body = b"".join(
        m.get("body", b"") for m in messages if m["type"] == "http.response.body"
    )
    assert body == b"quote: ok"
    assert flaky.attempts == 3


async def test_rejection_inside_a_started_stream_never_sends_a_second_start(
    make_app: MakeApp, registry: ResilienceRegistry
) -> None:
    """An open breaker mid-stream cannot turn into a 503: no second start."""
    registry.register("api", retrying(max_attempts=1, threshold=1))
    app = make_app()

    @app.get("/stream")
    async def stream(api: Api) -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            yield b"partial"
            for _ in range(2):  # the first fails, the second meets an open breaker
                try:
                    await api.call(Flaky(failures=1))
                except ConnectionError:
                    pass

        return StreamingResponse(body())

    messages = await run_raw(app, "/stream")

    assert starts(messages) == 1
    assert messages[0]["status"] == 200
    raised = [m["error"] for m in messages if m["type"] == "raised"]
    assert len(raised) == 1
    assert contains(raised[0], CircuitOpenError)


def test_background_task_calls_through_the_handle(
    make_app: MakeApp, registry: ResilienceRegistry
) -> None:
    """A handle used in a background task still retries after the response."""
    registry.register("api", retrying(max_attempts=2))
    app = make_app()
    flaky = Flaky(failures=1)
    results: list[str] = []

    async def later(api: PolicyHandle) -> None:
        results.append(await api.call(flaky))

    @app.get("/")
    async def endpoint(api: Api, tasks: BackgroundTasks) -> str:
        tasks.add_task(later, api)
        return "accepted"

    with TestClient(app) as client:
        assert client.get("/").json() == "accepted"

    assert results == ["ok"]
    assert flaky.attempts == 2


def test_background_failures_reach_the_shared_breaker(
    make_app: MakeApp, registry: ResilienceRegistry
) -> None:
    """A failure in a background task opens the breaker requests use."""
    registry.register("api", retrying(max_attempts=1, threshold=1))
    app = make_app()

    async def later(api: PolicyHandle) -> None:
        with pytest.raises(ConnectionError):
            await api.call(Flaky(failures=1))

    @app.get("/")
    async def endpoint(api: Api, tasks: BackgroundTasks) -> str:
        tasks.add_task(later, api)
        return "accepted"

    @app.get("/use")
    async def use(api: Api) -> str:
        return await api.call(Flaky(failures=0))

    with TestClient(app) as client:
        assert client.get("/").status_code == 200
        assert client.get("/use").status_code == 503

    assert registry.status()["api"].breaker.state is CircuitState.OPEN

"""Inbound protection: ``Depends(guard(name))`` and ``GuardMiddleware``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import fastapi
import httpx
import pytest
from _fastapi_support import MakeApp, RawExchange, http_scope
from fastapi import APIRouter, Depends, FastAPI, HTTPException, WebSocket
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from pyresilience import (
    BulkheadConfig,
    CircuitBreakerConfig,
    CircuitOpenError,
    CircuitState,
    RateLimiterConfig,
    ResilienceConfig,
    ResilienceRegistry,
)
from pyresilience.testing import FakeClock
from pyresilience_fastapi import (
    GuardDependency,
    GuardMiddleware,
    guard,
    install_error_handlers,
    resilience_lifespan,
)

FASTAPI_VERSION = tuple(int(part) for part in fastapi.__version__.split(".")[:2])
Guarded = [Depends(guard("inbound"))]


def limited(max_calls: int = 2) -> ResilienceConfig:
    return ResilienceConfig(
        rate_limiter=RateLimiterConfig(max_calls=max_calls, period=1.0)
    )


def breaker(threshold: int = 1) -> ResilienceConfig:
    return ResilienceConfig(
        circuit_breaker=CircuitBreakerConfig(
            failure_threshold=threshold, recovery_timeout=10
        )
    )


def test_guard_is_cached_per_name() -> None:
    """``guard(name)`` returns one dependency object per name."""
    assert guard("inbound") is guard("inbound")
    assert isinstance(guard("inbound"), GuardDependency)
    assert repr(guard("inbound")) == "guard('inbound')"
    with pytest.raises(TypeError, match="non-empty string"):
        guard("")


def test_rate_limited_request_never_reaches_the_handler(
    make_app: MakeApp, registry: ResilienceRegistry, clock: FakeClock
) -> None:
    """Over the limit the route answers 429 with Retry-After and runs nothing."""
    registry.register("inbound", limited(max_calls=2))
    app = make_app()
    calls: list[int] = []

    @app.get("/", dependencies=Guarded)
    async def endpoint() -> dict[str, bool]:
        calls.append(1)
        return {"ok": True}

    with TestClient(app) as client:
        statuses = [client.get("/").status_code for _ in range(3)]
        rejected = client.get("/")
        clock.advance(1.0)
        after_window = client.get("/")

    assert statuses == [200, 200, 429]
    assert rejected.headers["Retry-After"] == "1"
    assert rejected.json()["policy"] == "inbound"
    assert after_window.status_code == 200
    assert len(calls) == 3


def test_router_level_guard_covers_every_route_of_the_router(
    make_app: MakeApp, registry: ResilienceRegistry
) -> None:
    """A guard on an ``APIRouter`` applies to its routes and nothing else."""
    registry.register("inbound", limited(max_calls=1))
    app = make_app()
    router = APIRouter(dependencies=Guarded)

    @router.get("/a")
    async def a() -> str:
        return "a"

    @router.get("/b")
    def b() -> str:
        return "b"

    @app.get("/free")
    async def free() -> str:
        return "free"

    app.include_router(router)
    with TestClient(app) as client:
        assert client.get("/a").status_code == 200
        assert client.get("/b").status_code == 429
        assert [client.get("/free").status_code for _ in range(3)] == [200] * 3


@pytest.mark.skipif(
    FASTAPI_VERSION < (0, 118),
    reason="before 0.118 FastAPI ran dependency exit code before sending the body",
)
async def test_bulkhead_slot_is_held_until_a_streaming_body_ends(
    make_app: MakeApp, registry: ResilienceRegistry
) -> None:
    """While a guarded response still streams, the next request is turned away."""
    registry.register(
        "inbound", ResilienceConfig(bulkhead=BulkheadConfig(max_concurrent=1))
    )
    app = make_app()
    streaming, finish = asyncio.Event(), asyncio.Event()
    entered: list[int] = []

    async def body(hold: bool) -> AsyncIterator[bytes]:
        yield b"first "
        if hold:
            streaming.set()
            await finish.wait()
        yield b"last"

    @app.get("/stream", dependencies=Guarded)
    async def stream() -> StreamingResponse:
        entered.append(1)
        return StreamingResponse(body(hold=len(entered) == 1))

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t"
        ) as client:
            first = asyncio.create_task(client.get("/stream"))
            await streaming.wait()  # the endpoint has returned; the body is open
            second = await client.get("/stream")
            in_flight = registry.status()["inbound"].bulkhead.in_flight
            finish.set()
            first_response = await first
            third = await client.get("/stream")

    assert second.status_code == 503
    assert in_flight == 1
    assert first_response.text == "first last"
    assert third.status_code == 200
    assert len(entered) == 2


def test_server_errors_count_against_the_breaker_client_errors_do_not(
    make_app: MakeApp, registry: ResilienceRegistry
) -> None:
    """A 404 or a validation error leaves the breaker closed; a crash opens it."""
    registry.register("inbound", breaker(threshold=1))
    app = make_app()

    @app.get("/missing", dependencies=Guarded)
    async def missing() -> None:
        raise HTTPException(404, "no such thing")

    @app.get("/number/{n}", dependencies=Guarded)
    async def number(n: int) -> int:
        return n

    @app.get("/crash", dependencies=Guarded)
    async def crash() -> None:
        raise RuntimeError("bug")

    def state() -> CircuitState:
        return registry.status()["inbound"].breaker.state

    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/missing").status_code == 404
        assert client.get("/number/abc").status_code == 422
        assert state() is CircuitState.CLOSED
        assert client.get("/crash").status_code == 500
        assert state() is CircuitState.OPEN
        rejected = client.get("/number/1")

    assert rejected.status_code == 503
    assert int(rejected.headers["Retry-After"]) == 10


def test_http_exception_of_5xx_counts_as_failure(
    make_app: MakeApp, registry: ResilienceRegistry
) -> None:
    """An ``HTTPException`` of 500 or more is a failure of this service."""
    registry.register("inbound", breaker(threshold=1))
    app = make_app()

    @app.get("/", dependencies=Guarded)
    async def endpoint() -> None:
        raise HTTPException(502, "bad gateway")

    with TestClient(app) as client:
        assert client.get("/").status_code == 502
        assert client.get("/").status_code == 503


# GuardMiddleware ------------------------------------------------------------


def guarded_app(make_app: MakeApp, **options: Any) -> FastAPI:
    app = make_app()
    app.add_middleware(GuardMiddleware, policy="inbound", **options)
    return app


def test_middleware_rejects_before_the_app_with_429(
    make_app: MakeApp, registry: ResilienceRegistry, clock: FakeClock
) -> None:
    """Over the limit the middleware answers itself; the route never runs."""
    registry.register("inbound", limited(max_calls=1))
    app = guarded_app(make_app)
    calls: list[int] = []

    @app.get("/")
    async def endpoint() -> str:
        calls.append(1)
        return "ok"

    with TestClient(app) as client:
        assert client.get("/").status_code == 200
        rejected = client.get("/")
        clock.advance(1.0)
        assert client.get("/").status_code == 200

    assert rejected.status_code == 429
    assert rejected.headers["Retry-After"] == "1"
    assert rejected.json() == {"detail": rejected.json()["detail"], "policy": "inbound"}
    assert len(calls) == 2


def test_middleware_counts_5xx_responses_and_crashes_as_failures(
    make_app: MakeApp, registry: ResilienceRegistry
) -> None:
    """A 500 response opens the breaker; 4xx answers do not."""
    registry.register("inbound", breaker(threshold=2))
    app = guarded_app(make_app)

    @app.get("/status/{code}")
    async def answer(code: int) -> JSONResponse:
        return JSONResponse({}, status_code=code)

    @app.get("/crash")
    async def crash() -> None:
        raise RuntimeError("bug")

    def state() -> CircuitState:
        return registry.status()["inbound"].breaker.state

    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/status/404").status_code == 404
        assert client.get("/status/500").status_code == 500
        assert state() is CircuitState.CLOSED
        assert client.get("/crash").status_code == 500
        assert state() is CircuitState.OPEN
        assert client.get("/status/200").status_code == 503


async def test_middleware_holds_the_slot_until_the_last_byte(
    make_app: MakeApp, registry: ResilienceRegistry
) -> None:
    """The bulkhead slot is still taken while the final body chunk is sent."""
    registry.register(
        "inbound", ResilienceConfig(bulkhead=BulkheadConfig(max_concurrent=1))
    )
    app = guarded_app(make_app)

    async def body() -> AsyncIterator[bytes]:
        yield b"a"
        yield b"b"

    @app.get("/")
    async def endpoint() -> StreamingResponse:
        return StreamingResponse(body())

    seen: list[tuple[bytes, int]] = []

    def record(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            in_flight = registry.status()["inbound"].bulkhead.in_flight
            seen.append((message.get("body", b""), in_flight))

    exchange = RawExchange(record)
    async with app.router.lifespan_context(app):
        await app(http_scope("/"), exchange.receive, exchange.send)
        after = registry.status()["inbound"].bulkhead.in_flight

    assert [in_flight for _, in_flight in seen] == [1] * len(seen)
    assert b"".join(chunk for chunk, _ in seen) == b"ab"
    assert after == 0


def test_middleware_passes_websockets_through(
    make_app: MakeApp, registry: ResilienceRegistry
) -> None:
    """Websocket traffic is not rate limited by the HTTP guard."""
    registry.register("inbound", limited(max_calls=1))
    app = guarded_app(make_app)

    @app.websocket("/ws")
    async def socket(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hi")
        await websocket.close()

    with TestClient(app) as client:
        for _ in range(3):
            with client.websocket_connect("/ws") as ws:
                assert ws.receive_text() == "hi"


def test_middleware_with_an_explicit_registry_needs_no_lifespan() -> None:
    """Given a registry, the middleware works in an app without the hook."""
    registry = ResilienceRegistry(clock=FakeClock())
    registry.register("inbound", limited(max_calls=1))
    registry.open()
    app = FastAPI()
    app.add_middleware(GuardMiddleware, policy="inbound", registry=registry)

    @app.get("/")
    async def endpoint() -> str:
        return "ok"

    try:
        with TestClient(app) as client:
            assert [client.get("/").status_code for _ in range(2)] == [200, 429]
    finally:
        registry.shutdown(timeout=1.0)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"policy": ""}, "policy must be a non-empty string"),
        ({"policy": "x", "registry": {}}, "registry must be a ResilienceRegistry"),
    ],
)
def test_middleware_rejects_bad_options(options: dict[str, Any], message: str) -> None:
    """Wrong middleware options fail at construction with a clear message."""
    with pytest.raises(TypeError, match=message):
        GuardMiddleware(FastAPI(), **options)


def test_lifespan_and_middleware_work_on_a_plain_starlette_app(
    registry: ResilienceRegistry,
) -> None:
    """Without FastAPI, the hook maps errors and the middleware guards."""
    registry.register("inbound", limited(max_calls=2))

    async def ok(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    async def open_breaker(request: Request) -> PlainTextResponse:
        raise CircuitOpenError("open", policy="pay", retry_after=3.0)

    inner = Starlette(routes=[Route("/", ok), Route("/open", open_breaker)])
    # A mounted app has exception handlers of its own; the hook only sees
    # the app whose lifespan it is.
    install_error_handlers(inner)
    app = Starlette(
        routes=[Mount("/api", app=GuardMiddleware(inner, policy="inbound"))],
        lifespan=resilience_lifespan(registry),
    )

    with TestClient(app) as client:
        first = client.get("/api/")
        opened = client.get("/api/open")
        limited_out = client.get("/api/")

    assert first.text == "ok"
    assert opened.status_code == 503
    assert opened.headers["Retry-After"] == "3"
    assert opened.json() == {"detail": "open", "policy": "pay"}
    assert limited_out.status_code == 429
    assert limited_out.json()["policy"] == "inbound"


def test_errors_pass_unchanged_through_a_guard_without_breaker(
    make_app: MakeApp, registry: ResilienceRegistry
) -> None:
    """With only a limiter and a bulkhead, an endpoint's error stays itself."""
    registry.register(
        "inbound",
        ResilienceConfig(
            rate_limiter=RateLimiterConfig(max_calls=10),
            bulkhead=BulkheadConfig(max_concurrent=1),
        ),
    )
    app = make_app()

    @app.get("/dep", dependencies=Guarded)
    async def dep() -> None:
        raise LookupError("endpoint's own error")

    with TestClient(app) as client, pytest.raises(LookupError, match="own error"):
        client.get("/dep")
    assert registry.status()["inbound"].bulkhead.in_flight == 0


def test_middleware_passes_errors_unchanged_without_breaker(
    make_app: MakeApp, registry: ResilienceRegistry
) -> None:
    """The middleware re-raises the app's own error when there is no breaker."""
    registry.register(
        "inbound", ResilienceConfig(bulkhead=BulkheadConfig(max_concurrent=1))
    )
    app = guarded_app(make_app)

    @app.get("/")
    async def endpoint() -> None:
        raise LookupError("endpoint's own error")

    with TestClient(app) as client, pytest.raises(LookupError, match="own error"):
        client.get("/")
    assert registry.status()["inbound"].bulkhead.in_flight == 0

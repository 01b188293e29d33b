"""Inbound guards under hostile clients: hang-ups, closed sockets, overrides."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

import fastapi
import httpx
import pytest
from _fastapi_support import MakeApp, http_scope
from fastapi import Depends, FastAPI, Request, WebSocket
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient
from starlette.requests import ClientDisconnect
from starlette.websockets import WebSocketDisconnect

from pyresilience import (
    BulkheadConfig,
    CircuitBreakerConfig,
    CircuitState,
    RateLimiterConfig,
    ResilienceConfig,
    ResilienceRegistry,
)
from pyresilience.testing import FakeClock
from pyresilience_fastapi import (
    GuardMiddleware,
    PolicyHandle,
    get_registry,
    guard,
    resilience,
)

FASTAPI_VERSION = tuple(int(part) for part in fastapi.__version__.split(".")[:2])
Guarded = [Depends(guard("inbound"))]
# Module level: the annotations are strings FastAPI resolves in the globals.
Payments = Annotated[PolicyHandle, Depends(resilience("payments"))]


def fragile() -> ResilienceConfig:
    """One failure opens the breaker; one request at a time."""
    return ResilienceConfig(
        circuit_breaker=CircuitBreakerConfig(failure_threshold=1, recovery_timeout=10),
        bulkhead=BulkheadConfig(max_concurrent=1),
    )


def inbound(registry: ResilienceRegistry) -> tuple[CircuitState, int]:
    """The breaker state and the bulkhead slots in use of policy "inbound"."""
    status = registry.status()["inbound"]
    assert status.breaker is not None and status.bulkhead is not None
    return status.breaker.state, status.bulkhead.in_flight


class HangUpDuringUpload:
    """An ASGI client that sends part of a body, then disconnects."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self._chunks = 0

    async def receive(self) -> dict[str, Any]:
        self._chunks += 1
        if self._chunks == 1:
            return {"type": "http.request", "body": b"part", "more_body": True}
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)


class HangUpDuringDownload:
    """An ASGI client whose connection breaks after the first body chunk.

    Servers speaking ASGI spec 2.4 raise ``OSError`` from ``send`` once the
    peer has gone; Starlette turns that into ``ClientDisconnect``.
    """

    def __init__(self) -> None:
        self.chunks = 0

    async def receive(self) -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            self.chunks += 1
            if self.chunks > 1:
                raise OSError("connection reset by peer")


def spec_24(path: str) -> dict[str, Any]:
    """An ``http`` scope from a server that reports send failures (spec 2.4)."""
    scope = http_scope(path)
    scope["asgi"] = {"version": "3.0", "spec_version": "2.4"}
    return scope


async def body_of_three() -> AsyncIterator[bytes]:
    for chunk in (b"a", b"b", b"c"):
        yield chunk


async def test_guard_dependency_ignores_a_client_hanging_up_mid_upload(
    make_app: MakeApp, registry: ResilienceRegistry
) -> None:
    """A client abandoning its upload neither opens the breaker nor keeps a slot."""
    registry.register("inbound", fragile())
    app = make_app()

    @app.post("/upload", dependencies=Guarded)
    async def upload(request: Request) -> int:
        return len(await request.body())

    client = HangUpDuringUpload()
    scope = {**http_scope("/upload"), "method": "POST"}
    async with app.router.lifespan_context(app):
        # The hang-up still reaches the server, which owns the connection.
        with pytest.raises(ClientDisconnect):
            await app(scope, client.receive, client.send)
        after = inbound(registry)

    assert after == (CircuitState.CLOSED, 0)


@pytest.mark.skipif(
    FASTAPI_VERSION < (0, 118),
    reason="before 0.118 the guard had already exited when the body was sent",
)
async def test_guard_dependency_counts_an_upstream_error_in_a_streaming_body(
    make_app: MakeApp, registry: ResilienceRegistry
) -> None:
    """Starlette's ClientDisconnect wrapping an upstream error still counts."""
    registry.register("inbound", fragile())
    app = make_app()

    async def broken() -> AsyncIterator[bytes]:
        yield b"a"
        raise ConnectionError("upstream died mid-stream")

    @app.get("/stream", dependencies=Guarded)
    async def stream() -> StreamingResponse:
        return StreamingResponse(broken())

    client = HangUpDuringDownload()
    async with app.router.lifespan_context(app):
        # Under spec 2.4 Starlette reports any OSError of the body this way.
        with pytest.raises(ClientDisconnect):
            await app(spec_24("/stream"), client.receive, client.send)
        after = inbound(registry)

    assert after == (CircuitState.OPEN, 0)


def test_guard_dependency_ignores_a_websocket_closed_by_the_client(
    make_app: MakeApp, registry: ResilienceRegistry
) -> None:
    """A client closing its websocket leaves the breaker closed and frees the slot."""
    registry.register("inbound", fragile())
    app = make_app()

    @app.websocket("/ws", dependencies=Guarded)
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        while True:  # ends with WebSocketDisconnect when the client closes
            await websocket.send_text(await websocket.receive_text())

    with TestClient(app) as client:
        for _ in range(2):
            # The test client hands the endpoint's WebSocketDisconnect back.
            with (
                pytest.raises(WebSocketDisconnect),
                client.websocket_connect("/ws") as ws,
            ):
                ws.send_text("hi")
                assert ws.receive_text() == "hi"
        after = inbound(registry)

    assert after == (CircuitState.CLOSED, 0)


def middleware_app(make_app: MakeApp) -> FastAPI:
    app = make_app()
    app.add_middleware(GuardMiddleware, policy="inbound")
    return app


async def test_middleware_ignores_a_client_hanging_up_mid_download(
    make_app: MakeApp, registry: ResilienceRegistry
) -> None:
    """``GuardMiddleware`` does not blame the service for a broken connection."""
    registry.register("inbound", fragile())
    app = middleware_app(make_app)

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        return StreamingResponse(body_of_three())

    client = HangUpDuringDownload()
    async with app.router.lifespan_context(app):
        with pytest.raises(ClientDisconnect):
            await app(spec_24("/stream"), client.receive, client.send)
        after = inbound(registry)

    assert after == (CircuitState.CLOSED, 0)


async def test_middleware_ignores_a_client_hanging_up_mid_upload(
    make_app: MakeApp, registry: ResilienceRegistry
) -> None:
    """An abandoned upload through ``GuardMiddleware`` is not a failure."""
    registry.register("inbound", fragile())
    app = middleware_app(make_app)

    @app.post("/upload")
    async def upload(request: Request) -> int:
        return len(await request.body())

    client = HangUpDuringUpload()
    scope = {**http_scope("/upload"), "method": "POST"}
    async with app.router.lifespan_context(app):
        with pytest.raises(ClientDisconnect):
            await app(scope, client.receive, client.send)
        after = inbound(registry)

    assert after == (CircuitState.CLOSED, 0)


def test_middleware_uses_the_overridden_registry(make_app: MakeApp) -> None:
    """An override of ``get_registry`` swaps the registry of the middleware too."""
    app = middleware_app(make_app)

    @app.get("/")
    async def endpoint() -> str:
        return "ok"

    served = ResilienceRegistry(clock=FakeClock())
    served.register(
        "inbound", ResilienceConfig(rate_limiter=RateLimiterConfig(max_calls=1))
    )
    app.dependency_overrides[get_registry] = lambda: served

    with TestClient(app) as client:
        statuses = [client.get("/").status_code for _ in range(2)]

    assert statuses == [200, 429]
    limiter = served.status()["inbound"].rate_limiter
    assert limiter is not None and limiter.used == 1


async def test_middleware_counts_an_upstream_error_in_a_streaming_body(
    make_app: MakeApp, registry: ResilienceRegistry
) -> None:
    """Only a failed ``send`` is the client's doing; a failing body is not."""
    registry.register("inbound", fragile())
    app = middleware_app(make_app)

    async def broken() -> AsyncIterator[bytes]:
        yield b"a"
        raise ConnectionError("upstream died mid-stream")

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        return StreamingResponse(broken())

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        pass

    async with app.router.lifespan_context(app):
        with pytest.raises(ClientDisconnect):
            await app(spec_24("/stream"), receive, send)
        after = inbound(registry)

    assert after == (CircuitState.OPEN, 0)


def test_middleware_does_not_catch_the_outage_of_a_breaker_further_in(
    make_app: MakeApp, registry: ResilienceRegistry
) -> None:
    """503s mapped from an open outbound breaker leave the inbound one closed."""
    registry.register(
        "inbound",
        ResilienceConfig(
            circuit_breaker=CircuitBreakerConfig(
                failure_threshold=2, recovery_timeout=10
            )
        ),
    )
    registry.register(
        "payments",
        ResilienceConfig(
            circuit_breaker=CircuitBreakerConfig(
                failure_threshold=1, recovery_timeout=10
            )
        ),
    )
    app = middleware_app(make_app)

    async def charge() -> None:
        raise ConnectionError("payments are down")

    @app.get("/pay")
    async def pay(payments: Payments) -> None:
        await payments.call(charge)

    @app.get("/health")
    async def health() -> str:
        return "ok"

    with TestClient(app, raise_server_exceptions=False) as client:
        statuses = [client.get("/pay").status_code for _ in range(4)]
        breaker = inbound_breaker(registry)
        health_status = client.get("/health").status_code

    assert statuses == [500, 503, 503, 503]
    assert health_status == 200
    # Only the real failure counted: the first call, a 500.
    assert breaker == (CircuitState.CLOSED, 1)


def inbound_breaker(registry: ResilienceRegistry) -> tuple[CircuitState, int]:
    """The breaker state and consecutive failures of policy "inbound"."""
    breaker = registry.status()["inbound"].breaker
    assert breaker is not None
    return breaker.state, breaker.consecutive_failures


async def test_concurrent_requests_never_exceed_the_bulkhead(
    make_app: MakeApp, registry: ResilienceRegistry
) -> None:
    """Thirty requests at once: three run, the rest get 503, all slots return."""
    registry.register(
        "inbound", ResilienceConfig(bulkhead=BulkheadConfig(max_concurrent=3))
    )
    app = make_app()
    release = asyncio.Event()
    running = peak = 0

    @app.get("/", dependencies=Guarded)
    async def endpoint() -> str:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await release.wait()
        running -= 1
        return "ok"

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            requests = [asyncio.create_task(c.get("/")) for _ in range(30)]
            rejected = []
            for done in asyncio.as_completed(requests, timeout=5):
                rejected.append((await done).status_code)
                if len(rejected) == 27:
                    break
            release.set()
            responses = await asyncio.wait_for(asyncio.gather(*requests), 5)
        after = inbound_slots(registry)

    assert rejected == [503] * 27
    assert sorted(r.status_code for r in responses) == [200] * 3 + [503] * 27
    assert peak == 3
    assert after == 0


def inbound_slots(registry: ResilienceRegistry) -> int:
    bulkhead = registry.status()["inbound"].bulkhead
    assert bulkhead is not None
    return bulkhead.in_flight

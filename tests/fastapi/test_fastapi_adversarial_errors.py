"""Error mapping and shutdown under odd values and bad timing."""

from __future__ import annotations

import asyncio
from typing import Annotated

import httpx
from _fastapi_support import MakeApp
from fastapi import Depends
from fastapi.testclient import TestClient

from pyresilience import (
    CircuitOpenError,
    RateLimitExceededError,
    ResilienceConfig,
    ResilienceRegistry,
)
from pyresilience_fastapi import PolicyHandle, error_response, resilience

# Module level: the annotations are strings FastAPI resolves in the globals.
Pay = Annotated[PolicyHandle, Depends(resilience("pay"))]


def test_an_infinite_wait_is_a_503_without_retry_after(make_app: MakeApp) -> None:
    """``retry_after=inf`` maps to 503 with no header instead of crashing."""
    app = make_app()

    @app.get("/")
    async def endpoint() -> None:
        raise CircuitOpenError("closed for good", policy="pay", retry_after=1e999)

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/")

    assert response.status_code == 503
    assert "Retry-After" not in response.headers
    assert response.json() == {"detail": "closed for good", "policy": "pay"}


def test_error_response_drops_a_negative_infinite_wait() -> None:
    """``error_response`` sends no Retry-After for ``-inf`` either."""
    error = RateLimitExceededError("odd", policy="pay", retry_after=-1e999)

    response = error_response(error)

    assert response.status_code == 429
    assert "retry-after" not in response.headers


async def test_request_during_shutdown_drain_gets_503_not_500(
    make_app: MakeApp, registry: ResilienceRegistry
) -> None:
    """While calls drain, a late request still finds the registry and its 503."""
    registry.register("pay", ResilienceConfig())
    app = make_app(shutdown_timeout=5.0)
    entered, release = asyncio.Event(), asyncio.Event()

    async def slow() -> str:
        entered.set()
        await release.wait()
        return "done"

    async def quick() -> str:
        return "quick"

    @app.get("/slow")
    async def slow_route(pay: Pay) -> str:
        return await pay.call(slow)

    @app.get("/quick")
    async def quick_route(pay: Pay) -> str:
        return await pay.call(quick)

    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    # ASGITransport sends no lifespan state: requests find app.state only.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        in_flight = asyncio.create_task(client.get("/slow"))
        await asyncio.wait_for(entered.wait(), 5)
        shutting_down = asyncio.create_task(lifespan.__aexit__(None, None, None))
        for _ in range(1000):  # a few loop turns until the drain has begun
            if not registry.is_open:
                break
            await asyncio.sleep(0)
        late = await client.get("/quick")
        release.set()
        first = await asyncio.wait_for(in_flight, 5)
        await asyncio.wait_for(shutting_down, 5)

    assert late.status_code == 503
    assert late.json()["policy"] == "pay"
    assert first.json() == "done"
    assert not hasattr(app.state, "resilience_registry")

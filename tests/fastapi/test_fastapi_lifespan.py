"""The lifespan hook: opening, state, composition, restarts and shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
import pytest
from _fastapi_support import MakeApp
from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient

from pyresilience import ResilienceConfig, ResilienceRegistry, TimeoutConfig
from pyresilience_fastapi import (
    STATE_KEY,
    PolicyHandle,
    get_registry,
    guard,
    resilience,
    resilience_lifespan,
)


def test_startup_opens_the_registry_and_shutdown_closes_it(
    make_app: MakeApp, registry: ResilienceRegistry
) -> None:
    """A shut-down registry is opened at startup and shut down again after."""
    app = make_app()
    registry.shutdown(timeout=0)

    assert not registry.is_open
    with TestClient(app):
        assert registry.is_open
    assert not registry.is_open


def test_registry_is_on_app_state_and_request_state(
    make_app: MakeApp, registry: ResilienceRegistry
) -> None:
    """Handlers find the registry on both ``request.state`` and ``app.state``."""
    app = make_app()
    seen: dict[str, Any] = {}

    @app.get("/")
    async def endpoint(request: Request) -> None:
        seen["request"] = getattr(request.state, STATE_KEY)
        seen["app"] = getattr(request.app.state, STATE_KEY)

    with TestClient(app) as client:
        assert client.get("/").status_code == 200

    assert seen == {"request": registry, "app": registry}
    assert not hasattr(app.state, STATE_KEY)


def test_user_lifespan_runs_inside_and_its_state_reaches_requests(
    registry: ResilienceRegistry,
) -> None:
    """The app's own lifespan runs with the registry open, and its state is kept."""
    events: list[str] = []

    @asynccontextmanager
    async def own(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        events.append(f"enter open={registry.is_open}")
        yield {"db": "connection"}
        events.append(f"exit open={registry.is_open}")

    app = FastAPI(lifespan=resilience_lifespan(registry, lifespan=own))

    @app.get("/")
    async def endpoint(request: Request) -> dict[str, Any]:
        return {
            "db": request.state.db,
            "has_registry": STATE_KEY in request.scope["state"],
        }

    with TestClient(app) as client:
        assert client.get("/").json() == {"db": "connection", "has_registry": True}

    assert events == ["enter open=True", "exit open=True"]
    assert not registry.is_open


def test_user_lifespan_yielding_nothing_is_fine(registry: ResilienceRegistry) -> None:
    """A user lifespan that yields ``None`` composes like one yielding state."""
    ran: list[bool] = []

    @asynccontextmanager
    async def own(app: FastAPI) -> AsyncIterator[None]:
        ran.append(True)
        yield

    app = FastAPI(lifespan=resilience_lifespan(registry, own))
    with TestClient(app):
        assert registry.is_open
    assert ran == [True]


def test_user_lifespan_yielding_a_non_mapping_is_rejected(
    registry: ResilienceRegistry,
) -> None:
    """State that is not a mapping fails startup with a message saying so."""

    @asynccontextmanager
    async def own(app: FastAPI) -> AsyncIterator[Any]:
        yield ["not", "a", "mapping"]

    app = FastAPI(lifespan=resilience_lifespan(registry, lifespan=own))
    with pytest.raises(TypeError, match="must yield a mapping or None"):
        with TestClient(app):
            pass  # pragma: no cover
    assert not registry.is_open


def test_same_app_starts_and_stops_twice(
    make_app: MakeApp, registry: ResilienceRegistry
) -> None:
    """A second start re-opens the registry and serves requests again."""
    registry.register("api", ResilienceConfig())
    app = make_app()

    @app.get("/")
    async def endpoint(request: Request) -> list[str]:
        return get_registry_names(request)

    for _ in range(2):
        with TestClient(app) as client:
            assert registry.is_open
            assert client.get("/").json() == ["api"]
        assert not registry.is_open


def get_registry_names(request: Request) -> list[str]:
    return list(getattr(request.state, STATE_KEY).names)


def test_request_without_lifespan_says_to_pass_it(make_app: MakeApp) -> None:
    """Serving a request with no lifespan run raises an error naming the fix."""
    app = make_app()

    @app.get("/")
    async def endpoint(request: Request) -> None:
        await get_registry(request)

    client = TestClient(app)  # not entered: the lifespan never runs
    with pytest.raises(RuntimeError, match=r"lifespan=resilience_lifespan\(registry\)"):
        client.get("/")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"registry": object()}, TypeError, "needs a ResilienceRegistry"),
        ({"lifespan": "nope"}, TypeError, "lifespan must be a function"),
        ({"http_errors": "yes"}, TypeError, "http_errors must be True or False"),
        ({"shutdown_timeout": "5"}, TypeError, "number of seconds"),
        ({"shutdown_timeout": -1}, ValueError, ">= 0, got -1"),
        ({"shutdown_timeout": float("inf")}, ValueError, "finite"),
    ],
)
def test_bad_arguments_are_rejected_at_once(
    registry: ResilienceRegistry,
    kwargs: dict[str, Any],
    error: type[Exception],
    message: str,
) -> None:
    """Each wrong argument fails when the lifespan is made, naming it."""
    arguments: dict[str, Any] = {"registry": registry, **kwargs}
    with pytest.raises(error, match=message):
        resilience_lifespan(**arguments)


async def test_shutdown_waits_for_calls_in_flight() -> None:
    """Shutdown lets a call that is already running finish before closing."""
    registry = ResilienceRegistry()
    registry.register("slow", ResilienceConfig(timeout=TimeoutConfig(seconds=5)))
    lifespan = resilience_lifespan(registry, shutdown_timeout=5.0)
    order: list[str] = []
    started = asyncio.Event()

    async def work() -> str:
        started.set()
        await asyncio.sleep(0.05)
        order.append("call finished")
        return "done"

    async with lifespan(FastAPI()):
        task = asyncio.create_task(registry.policy("slow").acall(work))
        await started.wait()
        assert registry.in_flight == 1
    order.append("lifespan ended")

    assert order == ["call finished", "lifespan ended"]
    assert await task == "done"
    assert not registry.is_open


async def test_httpx_over_asgi_finds_the_registry_on_app_state(
    make_app: MakeApp, registry: ResilienceRegistry
) -> None:
    """Without lifespan state in the scope, ``app.state`` provides the registry."""
    app = make_app()

    @app.get("/")
    async def endpoint(request: Request) -> dict[str, bool]:
        found = await get_registry(request)
        return {"same": found is registry, "in_scope": "state" in request.scope}

    # httpx's ASGI transport sends no lifespan events: run it by hand.
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t"
        ) as client:
            response = await client.get("/")

    assert response.json() == {"same": True, "in_scope": False}


def test_startup_warns_about_routes_using_unknown_names(
    make_app: MakeApp, registry: ResilienceRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    """A misspelt policy name is reported when the app starts, not at a request."""
    registry.register("payment-api", ResilienceConfig())
    app = make_app()
    sub = FastAPI()

    @app.get("/pay", dependencies=[Depends(guard("paymnet-api"))])
    async def pay(api: Annotated[PolicyHandle, Depends(resilience("payment-api"))]):
        pass  # pragma: no cover - never called

    @sub.get("/inner")
    async def inner(api: Annotated[PolicyHandle, Depends(resilience("typo"))]):
        pass  # pragma: no cover - never called

    app.mount("/sub", sub)
    with caplog.at_level(logging.WARNING), TestClient(app):
        pass

    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2
    assert "route GET /pay uses policy 'paymnet-api'" in warnings[0]
    assert "registered: ['payment-api']" in warnings[0]
    assert "route GET /inner uses policy 'typo'" in warnings[1]


def test_startup_does_not_warn_when_a_default_covers_every_name(
    make_app: MakeApp, registry: ResilienceRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    """With a registry default, any name is served and nothing is logged."""
    registry.set_default(ResilienceConfig())
    app = make_app()

    @app.get("/")
    async def endpoint(api: Annotated[PolicyHandle, Depends(resilience("any"))]):
        pass  # pragma: no cover - never called

    with caplog.at_level(logging.WARNING), TestClient(app):
        pass
    assert caplog.records == []

"""FastAPI apps for the web suite, served in process through httpx."""

# No ``from __future__ import annotations``: FastAPI reads the endpoint
# signatures at runtime.

import asyncio
from collections.abc import Mapping
from typing import Any

from ._subjects import Unavailable
from ._suite_web import NAME, POLICY

__all__ = ["Apps"]

ASGIApp = Any


def _with_state(app: ASGIApp, state: Mapping[str, Any]) -> ASGIApp:
    # ASGI servers copy the lifespan state into every request's scope;
    # httpx's transport does not, so this does it the same way.
    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = {**scope, "state": dict(state)}
        await app(scope, receive, send)

    return asgi


async def _plain_dependency(request: Any) -> Any:
    return request.app


def _plain_app() -> Any:
    from fastapi import Depends, FastAPI, Request

    app = FastAPI()
    # Same shape as the adapter's dependency (it reads the request), so the
    # row shows what FastAPI's dependency injection alone costs.
    _plain_dependency.__annotations__["request"] = Request

    @app.get("/bare")
    async def bare() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/dep")
    async def dep(app_: Any = Depends(_plain_dependency)) -> dict[str, bool]:  # noqa: B008
        return await _payload()

    return app


async def _payload() -> dict[str, bool]:
    return {"ok": True}


def _resilient_app() -> Any:
    from fastapi import Depends, FastAPI

    from pyresilience import ResilienceRegistry
    from pyresilience_fastapi import guard, resilience, resilience_lifespan

    registry = ResilienceRegistry.from_mapping({"policies": {NAME: POLICY}})
    app = FastAPI(lifespan=resilience_lifespan(registry))

    @app.get("/bare")
    async def bare() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/call")
    async def call(payment: Any = Depends(resilience(NAME))) -> dict[str, bool]:  # noqa: B008
        return await payment.call(_payload)  # type: ignore[no-any-return]

    @app.get("/guard", dependencies=[Depends(guard(NAME))])
    async def guarded() -> dict[str, bool]:
        return {"ok": True}

    return app


async def _hold_lifespan(
    app: Any, started: "asyncio.Future[Mapping[str, Any]]", stop: asyncio.Event
) -> None:
    # One task enters and leaves the lifespan, as a server's lifespan task
    # does; anyio cancel scopes inside it must not change tasks.
    async with app.router.lifespan_context(app) as state:
        started.set_result(state or {})
        await stop.wait()


class Apps:
    """The plain app and the adapter's app, each with an httpx client.

    Use as a context manager: leaving it closes the clients and runs the
    adapter app's lifespan shutdown.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._clients: dict[str, Any] = {}
        self._stop = asyncio.Event()
        self._lifespan: asyncio.Task[None] | None = None

    def __enter__(self) -> "Apps":
        try:
            import fastapi  # noqa: F401
            import httpx  # noqa: F401
        except ImportError as exc:
            raise Unavailable(f"fastapi or httpx is not installed ({exc})") from None
        return self

    def __exit__(self, *exc: object) -> None:
        for client in self._clients.values():
            self._loop.run_until_complete(client.aclose())
        if self._lifespan is not None:
            self._stop.set()
            self._loop.run_until_complete(self._lifespan)

    def _client(self, app: ASGIApp, state: Mapping[str, Any]) -> Any:
        import httpx

        transport = httpx.ASGITransport(app=_with_state(app, state))
        return httpx.AsyncClient(transport=transport, base_url="http://testserver")

    def plain(self) -> Any:
        """Return the client of the app without pyresilience."""
        if "plain" not in self._clients:
            self._clients["plain"] = self._client(_plain_app(), {})
        return self._clients["plain"]

    def resilient(self) -> Any:
        """Return the client of the adapter's app, its lifespan started."""
        if "resilient" not in self._clients:
            try:
                app = _resilient_app()
            except ImportError as exc:
                raise Unavailable(f"FastAPI adapter not importable ({exc})") from None
            started: asyncio.Future[Mapping[str, Any]] = self._loop.create_future()
            self._lifespan = self._loop.create_task(
                _hold_lifespan(app, started, self._stop)
            )
            state = self._loop.run_until_complete(started)
            self._clients["resilient"] = self._client(app, state)
        return self._clients["resilient"]

"""Where a request finds the registry of the app serving it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import HTTPConnection
from starlette.types import Scope

from pyresilience import ResilienceRegistry

__all__ = ["STATE_KEY", "get_registry", "registry_from_scope"]

#: Key of the registry in the lifespan state (``request.state``) and the
#: attribute name on ``app.state``.
STATE_KEY = "resilience_registry"

_NOT_STARTED = (
    "no pyresilience registry is open for this app. Pass "
    "lifespan=resilience_lifespan(registry) to FastAPI(...) and serve the app "
    "with its lifespan running (uvicorn does; in tests use "
    "`with TestClient(app) as client:`). It may also have shut down already."
)


def registry_from_scope(scope: Scope) -> ResilienceRegistry:
    """Return the registry that ``resilience_lifespan`` opened for this scope.

    The lifespan state (copied into every request's ``scope["state"]`` by the
    server) is looked at first, then ``app.state`` of ``scope["app"]``, for
    servers that do not support lifespan state.

    Args:
        scope: An ASGI ``http`` or ``websocket`` scope.

    Raises:
        RuntimeError: The lifespan hook did not run for this app, so there is
            no registry to hand out.
    """
    state = scope.get("state")
    if isinstance(state, Mapping):
        registry = state.get(STATE_KEY)
        if registry is not None:
            return _checked(registry)

    app_state: Any = getattr(scope.get("app"), "state", None)
    registry = getattr(app_state, STATE_KEY, None)
    if registry is None:
        raise RuntimeError(_NOT_STARTED)
    return _checked(registry)


def _checked(registry: object) -> ResilienceRegistry:
    if not isinstance(registry, ResilienceRegistry):
        raise TypeError(
            f"{STATE_KEY!r} in the app state must be a ResilienceRegistry, "
            f"got {registry!r}"
        )
    return registry


async def get_registry(connection: HTTPConnection) -> ResilienceRegistry:
    """FastAPI dependency: the registry of the app serving this request.

    This is the one place every other dependency of this package gets the
    registry from, so a test can swap it for the whole app with
    ``app.dependency_overrides[get_registry] = lambda: test_registry``.

    Args:
        connection: The current request or websocket (injected by FastAPI).

    Raises:
        RuntimeError: ``resilience_lifespan`` is not the app's lifespan, or the
            app is served without running its lifespan.
    """
    return registry_from_scope(connection.scope)

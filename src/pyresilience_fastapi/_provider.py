"""Where a request finds the registry of the app serving it."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import HTTPConnection
from starlette.types import Scope

from pyresilience import ResilienceRegistry

__all__ = [
    "STATE_KEY",
    "get_registry",
    "provide_registry",
    "provide_registry_for_scope",
    "registry_from_scope",
]

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


async def provide_registry(connection: HTTPConnection) -> ResilienceRegistry:
    """Return the registry for ``connection``, honouring overrides of it.

    ``resilience()`` and ``guard()`` call this instead of declaring
    ``Depends(get_registry)``: every level of FastAPI dependency costs about
    as much again as the lookup itself, and these sit on every request. An
    entry for :func:`get_registry` in ``app.dependency_overrides`` is still
    obeyed; it may take no argument or the connection, be sync or async,
    and must return the registry.

    Raises:
        RuntimeError: As :func:`get_registry`.
        TypeError: The override has another signature or returns something
            that is not a ``ResilienceRegistry``.
    """
    override = _override_in(connection.scope)
    if override is not None:
        return _checked(await _call_override(override, connection))
    return registry_from_scope(connection.scope)


async def provide_registry_for_scope(scope: Scope) -> ResilienceRegistry:
    """:func:`provide_registry` for ASGI middleware, which has only the scope.

    An override of :func:`get_registry` is obeyed here too, so a test that
    swaps the registry swaps it for ``GuardMiddleware`` as well.
    """
    override = _override_in(scope)
    if override is None:
        return registry_from_scope(scope)
    return _checked(await _call_override(override, HTTPConnection(scope)))


def _override_in(scope: Scope) -> Callable[..., Any] | None:
    overrides = getattr(scope.get("app"), "dependency_overrides", None)
    if not overrides:
        return None
    override: Callable[..., Any] | None = overrides.get(get_registry)
    return override


async def _call_override(
    override: Callable[..., Any], connection: HTTPConnection
) -> object:
    if inspect.isgeneratorfunction(override) or inspect.isasyncgenfunction(override):
        raise TypeError(
            f"the override of get_registry {override!r} must return the registry; "
            "dependencies with yield are not supported for it"
        )
    required = [
        p
        for p in inspect.signature(override).parameters.values()
        if p.default is p.empty
        and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(required) > 1:
        raise TypeError(
            f"the override of get_registry {override!r} may take no argument or "
            f"the request, not {len(required)} arguments"
        )
    result = override(connection) if required else override()
    if inspect.isawaitable(result):
        result = await result
    return result

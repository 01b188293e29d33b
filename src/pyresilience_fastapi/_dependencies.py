"""The FastAPI dependencies: ``resilience(name)`` and ``guard(name)``."""

# No ``from __future__ import annotations`` here: FastAPI reads these
# signatures at runtime to inject the connection.

import threading
from collections.abc import AsyncIterator
from typing import TypeVar

from fastapi.exceptions import RequestValidationError, WebSocketRequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, HTTPConnection
from starlette.websockets import WebSocketDisconnect

from ._handle import PolicyHandle
from ._provider import provide_registry
from ._validate import policy_name

__all__ = ["GuardDependency", "PolicyDependency", "guard", "resilience"]

DependencyT = TypeVar("DependencyT", "PolicyDependency", "GuardDependency")


class PolicyDependency:
    """``Depends(resilience(name))``: hands the endpoint a :class:`PolicyHandle`."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    async def __call__(self, connection: HTTPConnection) -> PolicyHandle:
        """Resolve the policy named ``self.name`` in the serving app's registry.

        The registry comes from :func:`~pyresilience_fastapi.get_registry` (or
        its override in ``app.dependency_overrides``).

        Raises:
            UnknownPolicyError: The name is not registered and the registry
                has no default; the message lists the registered names.
        """
        registry = await provide_registry(connection)
        return PolicyHandle(registry.policy(self.name))

    def __repr__(self) -> str:
        return f"resilience({self.name!r})"


class GuardDependency:
    """``Depends(guard(name))``: admits or rejects the request itself.

    The breaker, rate limiter and bulkhead of the policy decide before the
    endpoint runs; a rejection raises (and is mapped to 503/429), so the
    endpoint never sees the request. The bulkhead slot is held until the
    response has been sent, streaming bodies and background tasks included.
    An exception escaping the endpoint counts as a breaker failure (per the
    policy's ``error_types``), except client errors: an ``HTTPException``
    below 500, request validation errors and a client that went away
    (``ClientDisconnect``, ``WebSocketDisconnect``) count as successes.
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    async def __call__(self, connection: HTTPConnection) -> AsyncIterator[None]:
        """Hold the policy's guard for the lifetime of the request."""
        registry = await provide_registry(connection)
        client_error: Exception | None = None
        async with registry.policy(self.name).aguard():
            try:
                yield
            except _CLIENT_SIDE as exc:
                if not _is_client_error(exc):
                    raise
                # Leave the guard cleanly first: a client's mistake, or a
                # client hanging up, says nothing about this service's health.
                client_error = exc
        if client_error is not None:
            raise client_error

    def __repr__(self) -> str:
        return f"guard({self.name!r})"


# What the client caused rather than this service. (A websocket closed by
# the client ends the endpoint with WebSocketDisconnect unless it catches it.)
_CLIENT_SIDE = (
    HTTPException,
    RequestValidationError,
    WebSocketRequestValidationError,
    ClientDisconnect,
    WebSocketDisconnect,
)


def _is_client_error(exc: Exception) -> bool:
    if isinstance(exc, HTTPException):
        return exc.status_code < 500
    if isinstance(exc, ClientDisconnect):
        return is_hang_up(exc)
    return isinstance(exc, _CLIENT_SIDE)


def is_hang_up(exc: BaseException) -> bool:
    """Tell whether ``exc`` is surely a client that went away mid-request."""
    # Under ASGI spec 2.4 Starlette turns *any* OSError of a streaming body
    # into ClientDisconnect, an upstream's ConnectionError included; only the
    # request body reader's (no OSError behind it) is surely the client's.
    return isinstance(exc, ClientDisconnect) and not isinstance(
        exc.__context__, OSError
    )


_lock = threading.Lock()
_policy_dependencies: dict[str, PolicyDependency] = {}
_guard_dependencies: dict[str, GuardDependency] = {}


def _cached(
    cache: dict[str, DependencyT], kind: type[DependencyT], name: str
) -> DependencyT:
    policy_name(name)
    dependency = cache.get(name)
    if dependency is None:
        with _lock:
            dependency = cache.setdefault(name, kind(name))
    return dependency


def resilience(name: str) -> PolicyDependency:
    """Return the dependency giving endpoints the policy ``name``.

    Use it as ``payment = Depends(resilience("payment-api"))``; the endpoint
    gets a :class:`PolicyHandle` bound to ``name`` in the registry of the app
    serving the request (see :func:`get_registry`). The same name always
    returns the same object, so FastAPI resolves it once per request.

    Args:
        name: A registry name. Unknown names fail at request time with
            ``UnknownPolicyError`` unless the registry has a default.

    Raises:
        TypeError: ``name`` is not a non-empty string.
    """
    return _cached(_policy_dependencies, PolicyDependency, name)


def guard(name: str) -> GuardDependency:
    """Return the dependency that guards a route or router with policy ``name``.

    Use it as ``dependencies=[Depends(guard("inbound"))]`` on a route, an
    ``APIRouter`` or ``include_router``. Only the inbound patterns of the
    policy act: circuit breaker, rate limiter, bulkhead (see
    :class:`GuardDependency`). Keep FastAPI's default ``scope="request"``
    for it: with ``scope="function"`` the slot would be released before the
    response is sent.

    Args:
        name: A registry name.

    Raises:
        TypeError: ``name`` is not a non-empty string.
    """
    return _cached(_guard_dependencies, GuardDependency, name)

"""The lifespan hook: open the registry at startup, drain it at shutdown."""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

from pyresilience import ResilienceRegistry

from ._errors import install_error_handlers
from ._provider import STATE_KEY
from ._routes import warn_unknown_names

__all__ = ["resilience_lifespan"]

logger = logging.getLogger(__name__)

AppT = TypeVar("AppT")
UserLifespan = Callable[[AppT], AbstractAsyncContextManager[Mapping[str, Any] | None]]
Lifespan = Callable[[AppT], AbstractAsyncContextManager[dict[str, Any]]]


def resilience_lifespan(
    registry: ResilienceRegistry,
    lifespan: UserLifespan[AppT] | None = None,
    http_errors: bool = True,
    *,
    shutdown_timeout: float = 30.0,
) -> Lifespan[AppT]:
    """Make a FastAPI/Starlette lifespan that runs ``registry`` with the app.

    At startup it opens the registry (validating every policy and connecting
    its state store), installs the HTTP error mapping (see below), puts the
    registry in the lifespan state (``request.state.resilience_registry``)
    and on ``app.state``, then runs your own ``lifespan`` inside; whatever
    state yours yields reaches ``request.state`` too. At shutdown yours exits
    first, then the registry stops taking calls, waits up to
    ``shutdown_timeout`` seconds for calls in flight, and releases its worker
    threads and store connections. The same app may be started and stopped
    more than once.

    With ``http_errors`` (the default) ``CircuitOpenError``,
    ``BulkheadFullError`` and ``ShutdownError`` become 503,
    ``RateLimitExceededError`` 429 and a timeout 504, unless the app has its
    own handler for one of them. Starlette copies its exception handlers
    when it first builds its middleware stack, which happens before the
    lifespan runs; when a handler is added here the stack is therefore
    rebuilt once, before the first request. Call
    :func:`install_error_handlers` right after creating the app to avoid
    that.

    Use one registry per app: shutting the app down shuts the registry down.

    Args:
        registry: The policies this app serves.
        lifespan: Your own lifespan (an ``@asynccontextmanager`` function of
            the app), run inside this one.
        http_errors: Whether to install the error-to-HTTP mapping.
        shutdown_timeout: Seconds to wait for calls in flight at shutdown.

    Returns:
        A lifespan to pass as ``FastAPI(lifespan=...)``.

    Raises:
        TypeError: An argument is of the wrong kind.
        ValueError: ``shutdown_timeout`` is negative or not finite.
    """
    _check_arguments(registry, lifespan, http_errors, shutdown_timeout)

    @asynccontextmanager
    async def run(app: AppT) -> AsyncIterator[dict[str, Any]]:
        await registry.aopen()
        try:
            if http_errors:
                _install_error_handlers(app)
            _set_app_state(app, registry)
            warn_unknown_names(app, registry)
            async with _enter(lifespan, app) as user_state:
                yield {**user_state, STATE_KEY: registry}
        finally:
            try:
                await _shut_down(registry, shutdown_timeout)
            finally:
                # Only now: a request arriving while calls drain must still
                # find the registry, and get its 503, not a 500.
                _clear_app_state(app, registry)

    return run


def _check_arguments(
    registry: object, lifespan: object, http_errors: object, shutdown_timeout: object
) -> None:
    if not isinstance(registry, ResilienceRegistry):
        raise TypeError(
            f"resilience_lifespan() needs a ResilienceRegistry, got {registry!r}"
        )
    if lifespan is not None and not callable(lifespan):
        raise TypeError(
            "lifespan must be a function of the app returning an async context "
            f"manager (an @asynccontextmanager function), got {lifespan!r}"
        )
    if not isinstance(http_errors, bool):
        raise TypeError(f"http_errors must be True or False, got {http_errors!r}")
    if isinstance(shutdown_timeout, bool) or not isinstance(
        shutdown_timeout, (int, float)
    ):
        raise TypeError(
            f"shutdown_timeout must be a number of seconds, got {shutdown_timeout!r}"
        )
    if not math.isfinite(shutdown_timeout) or shutdown_timeout < 0:
        raise ValueError(
            f"shutdown_timeout must be a finite number of seconds >= 0, "
            f"got {shutdown_timeout!r}"
        )


@asynccontextmanager
async def _enter(
    lifespan: UserLifespan[AppT] | None, app: AppT
) -> AsyncIterator[dict[str, Any]]:
    if lifespan is None:
        yield {}
        return

    async with lifespan(app) as state:
        if state is None:
            yield {}
        elif isinstance(state, Mapping):
            yield dict(state)
        else:
            raise TypeError(
                f"the app's own lifespan must yield a mapping or None, got {state!r}"
            )


def _install_error_handlers(app: Any) -> None:
    if not hasattr(app, "exception_handlers"):
        logger.warning(
            "pyresilience.http_errors_skipped: %r has no exception handlers; "
            "resilience errors will not be mapped to HTTP responses",
            app,
        )
        return
    if install_error_handlers(app) and getattr(app, "middleware_stack", None):
        # Starlette froze its handlers into the stack it built to deliver this
        # very lifespan event; rebuild it so requests see the new handlers.
        app.middleware_stack = app.build_middleware_stack()


def _set_app_state(app: Any, registry: ResilienceRegistry) -> None:
    state = getattr(app, "state", None)
    if state is not None:
        setattr(state, STATE_KEY, registry)


def _clear_app_state(app: Any, registry: ResilienceRegistry) -> None:
    state = getattr(app, "state", None)
    if state is not None and getattr(state, STATE_KEY, None) is registry:
        delattr(state, STATE_KEY)


async def _shut_down(registry: ResilienceRegistry, timeout: float) -> None:
    drained = await registry.ashutdown(timeout=timeout)
    if not drained:
        logger.warning(
            "pyresilience.shutdown_incomplete: calls were still in flight after "
            "%.1fs; %d abandoned",
            timeout,
            registry.in_flight,
        )

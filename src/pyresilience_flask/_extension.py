"""The :class:`Resilience` Flask extension."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar, cast

from flask import Flask

from pyresilience import Policy, ResilienceRegistry

from ._cli import resilience_cli
from ._constants import EXTENSION_KEY
from ._errors import install_error_handlers
from ._lifecycle import shutdown_at_exit
from ._registry import current_registry, registry_of
from ._settings import ResilienceSettings

__all__ = ["Resilience"]

P = ParamSpec("P")
R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Any])


class Resilience:
    """Named resilience policies for Flask apps, configured in ``app.config``.

    The object itself holds no per-app state, so one module-level instance
    serves any number of apps (the app-factory pattern). Each app gets its
    own :class:`~pyresilience.ResilienceRegistry` in
    ``app.extensions["pyresilience"]``; calls resolve the registry of
    ``current_app`` when they run.

    Example::

        resilience = Resilience()

        def create_app():
            app = Flask(__name__)
            app.config["RESILIENCE_POLICIES"] = {
                "payment-api": {"retry": {"max_attempts": 3}},
            }
            resilience.init_app(app)
            return app

    Args:
        app: An app to initialise at once; same as calling :meth:`init_app`.
    """

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Build ``app``'s registry from its config and wire it into the app.

        Reads ``RESILIENCE_POLICIES``, ``RESILIENCE_DEFAULT``,
        ``RESILIENCE_STORE``, ``RESILIENCE_HTTP_ERRORS`` and
        ``RESILIENCE_CLOCK`` (see :class:`ConfigKeys`), opens the registry,
        installs the error mapping (unless ``RESILIENCE_HTTP_ERRORS`` is
        false), adds the ``flask resilience`` commands and arranges for the
        registry to shut down when the process exits.

        Raises:
            ConfigError: The config is invalid; the message names the key
                path, the value and what is allowed.
            RuntimeError: ``init_app`` already ran on this app.
        """
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError(
                f"pyresilience is already initialised on the Flask app "
                f"{app.name!r}: call init_app once per app"
            )

        settings = ResilienceSettings.from_config(app.config)
        registry = settings.build_registry()
        registry.open()

        app.extensions[EXTENSION_KEY] = registry
        if settings.http_errors:
            install_error_handlers(app)
        app.cli.add_command(resilience_cli)
        shutdown_at_exit(registry)

    def get_registry(self, app: Flask | None = None) -> ResilienceRegistry:
        """Return the registry of ``app``, or of ``current_app`` by default.

        Raises:
            RuntimeError: No app was given and there is no application
                context, or the app never ran :meth:`init_app`.
        """
        return current_registry() if app is None else registry_of(app)

    @property
    def registry(self) -> ResilienceRegistry:
        """The registry of ``current_app``; see :meth:`get_registry`."""
        return current_registry()

    def policy(self, name: str) -> Policy:
        """Return the policy ``name`` of ``current_app``'s registry.

        Raises:
            UnknownPolicyError: ``name`` is not registered and there is no
                ``RESILIENCE_DEFAULT``.
        """
        return current_registry().policy(name)

    def call(
        self, name: str, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """Call the sync ``fn(*args, **kwargs)`` through the policy ``name``.

        The whole pipeline applies (retry, timeout, breaker, limiter,
        bulkhead, fallback, cache). Werkzeug HTTP errors raised by ``fn``
        (``abort(404)``) pass straight through: never retried, never a
        breaker failure. Under a timeout ``fn`` runs in a worker thread
        that sees the caller's app and request context.
        """
        result: R = current_registry().policy(name).call(fn, *args, **kwargs)
        return result

    async def acall(
        self,
        name: str,
        fn: Callable[P, Awaitable[R]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R:
        """Await the async ``fn(*args, **kwargs)`` through the policy ``name``.

        Sync and async callers of one name share its breaker, limiter and
        bulkhead. See :meth:`call`.
        """
        policy = current_registry().policy(name)
        result: R = await policy.acall(fn, *args, **kwargs)
        return result

    def protect(self, name: str) -> Callable[[F], F]:
        """Decorate a sync or async function to run through policy ``name``.

        Works on any function, views included; the registry is looked up
        when the function is called, so decorating at import time, before
        any app exists, is fine. On a view the whole pipeline wraps the view,
        so a failing view is retried; use :meth:`guard` to shed load at the
        door without retrying.
        """

        def decorate(fn: F) -> F:
            if inspect.iscoroutinefunction(fn):

                @functools.wraps(fn)
                async def aprotected(*args: Any, **kwargs: Any) -> Any:
                    policy = current_registry().policy(name)
                    return await policy.acall(fn, *args, **kwargs)

                return cast(F, aprotected)

            @functools.wraps(fn)
            def protected(*args: Any, **kwargs: Any) -> Any:
                return current_registry().policy(name).call(fn, *args, **kwargs)

            return cast(F, protected)

        return decorate

    def guard(self, name: str) -> Callable[[F], F]:
        """Decorate a view so policy ``name`` admits or rejects each request.

        Only the policy's circuit breaker, rate limiter and bulkhead apply:
        a request they turn away raises ``CircuitOpenError``,
        ``RateLimitExceededError`` or ``BulkheadFullError`` (503 / 429 / 503)
        without running the view; an admitted request holds a bulkhead slot
        until the view returns, and an exception from the view counts as a
        breaker failure (HTTP errors from ``abort()`` do not). Sync and
        async views are supported.
        """

        def decorate(view: F) -> F:
            if inspect.iscoroutinefunction(view):

                @functools.wraps(view)
                async def aguarded(*args: Any, **kwargs: Any) -> Any:
                    async with current_registry().policy(name).aguard():
                        return await view(*args, **kwargs)

                return cast(F, aguarded)

            @functools.wraps(view)
            def guarded(*args: Any, **kwargs: Any) -> Any:
                with current_registry().policy(name).guard():
                    return view(*args, **kwargs)

            return cast(F, guarded)

        return decorate

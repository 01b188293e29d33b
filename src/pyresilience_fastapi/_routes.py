"""Find the policy names an app's routes depend on, to check them at startup."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from pyresilience import ResilienceRegistry

from ._dependencies import GuardDependency, PolicyDependency
from ._middleware import GuardMiddleware

__all__ = ["warn_unknown_names"]

logger = logging.getLogger(__name__)


def warn_unknown_names(app: Any, registry: ResilienceRegistry) -> list[str]:
    """Log a warning for each route or middleware using an unservable name.

    A typo in ``resilience("paymnet-api")`` or ``GuardMiddleware(...,
    policy="inbuond")`` would otherwise only show at the first request.
    Names are resolved per request (they may be registered later, or the
    registry overridden in tests), so this only warns. A ``GuardMiddleware``
    with a ``registry`` of its own is checked against that one.

    Returns:
        The messages logged, for tests.
    """
    uses = [
        (where, name, registry)
        for where, name in _policy_uses(getattr(app, "routes", ()))
    ]
    uses.extend(_middleware_uses(app, registry))
    messages = []
    for where, name, serving in uses:
        if serving.default is None and serving.get(name) is None:
            message = (
                f"{where} uses policy {name!r}, which is not registered and the "
                f"registry has no default (registered: {serving.names}); its "
                "requests will fail with UnknownPolicyError"
            )
            logger.warning("pyresilience.unknown_policy: %s", message)
            messages.append(message)
    return messages


def _middleware_uses(
    app: Any, registry: ResilienceRegistry
) -> Iterator[tuple[str, str, ResilienceRegistry]]:
    """``GuardMiddleware`` added with ``app.add_middleware`` or mounted."""
    for entry in getattr(app, "user_middleware", None) or ():
        if getattr(entry, "cls", None) is not GuardMiddleware:
            continue
        args, kwargs = getattr(entry, "args", ()), getattr(entry, "kwargs", {})
        name = kwargs.get("policy", args[0] if args else None)
        own = kwargs.get("registry")
        if isinstance(name, str):
            serving = own if isinstance(own, ResilienceRegistry) else registry
            yield "GuardMiddleware", name, serving
    for route in getattr(app, "routes", None) or ():
        mounted = getattr(route, "app", None)
        if isinstance(mounted, GuardMiddleware):
            where = f"GuardMiddleware at {getattr(route, 'path', '?')}"
            yield where, mounted.policy, mounted.registry or registry


def _policy_uses(routes: Any) -> Iterator[tuple[str, str]]:
    for route in routes:
        dependant = getattr(route, "dependant", None)
        if dependant is None:
            # A Mount: look inside the mounted app's routes too.
            yield from _policy_uses(getattr(route, "routes", None) or ())
            continue
        methods = ",".join(sorted(getattr(route, "methods", None) or ())) or "WS"
        where = f"route {methods} {getattr(route, 'path', '?')}"
        for name in sorted(set(_names(dependant))):
            yield where, name


def _names(dependant: Any) -> Iterator[str]:
    call = getattr(dependant, "call", None)
    if isinstance(call, (PolicyDependency, GuardDependency)):
        yield call.name
    for sub in getattr(dependant, "dependencies", ()):
        yield from _names(sub)

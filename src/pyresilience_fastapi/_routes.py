"""Find the policy names an app's routes depend on, to check them at startup."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from pyresilience import ResilienceRegistry

from ._dependencies import GuardDependency, PolicyDependency

__all__ = ["warn_unknown_names"]

logger = logging.getLogger(__name__)


def warn_unknown_names(app: Any, registry: ResilienceRegistry) -> list[str]:
    """Log a warning for each route using a name the registry cannot serve.

    A typo in ``resilience("paymnet-api")`` would otherwise only show at the
    first request of that route. Names are resolved per request (they may
    be registered later, or the registry overridden in tests), so this only
    warns.

    Returns:
        The messages logged, for tests.
    """
    if registry.default is not None:
        return []

    messages = []
    for where, name in _policy_uses(getattr(app, "routes", ())):
        if registry.get(name) is None:
            message = (
                f"{where} uses policy {name!r}, which is not registered and the "
                f"registry has no default (registered: {registry.names}); its "
                "requests will fail with UnknownPolicyError"
            )
            logger.warning("pyresilience.unknown_policy: %s", message)
            messages.append(message)
    return messages


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

"""FastAPI adapter for pyresilience.

::

    registry = ResilienceRegistry.from_mapping(settings.resilience)
    app = FastAPI(lifespan=resilience_lifespan(registry, lifespan=app_lifespan))

    @app.post("/charge")
    async def charge(body: Charge, payment=Depends(resilience("payment-api"))):
        return await payment.call(client.charge, body.amount)

All behaviour comes from the core registry; this package only opens it with
the app, hands it to request handling, and maps its errors to HTTP.
"""

from __future__ import annotations

from ._dependencies import GuardDependency, PolicyDependency, guard, resilience
from ._errors import (
    error_response,
    install_error_handlers,
    resilience_exception_handler,
)
from ._handle import PolicyHandle
from ._lifespan import resilience_lifespan
from ._middleware import GuardMiddleware
from ._provider import STATE_KEY, get_registry, registry_from_scope

__all__ = [
    "STATE_KEY",
    "GuardDependency",
    "GuardMiddleware",
    "PolicyDependency",
    "PolicyHandle",
    "error_response",
    "get_registry",
    "guard",
    "install_error_handlers",
    "registry_from_scope",
    "resilience",
    "resilience_exception_handler",
    "resilience_lifespan",
]

# Show the public module in reprs and tracebacks, not the private one.
for _name in __all__:
    _obj = globals()[_name]
    if hasattr(_obj, "__module__") and not isinstance(_obj, str):
        _obj.__module__ = __name__
del _name, _obj

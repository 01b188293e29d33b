"""Django app for pyresilience: policies from ``settings.RESILIENCE``.

Add ``"pyresilience_django"`` to ``INSTALLED_APPS`` and
``"pyresilience_django.middleware.ResilienceMiddleware"`` to ``MIDDLEWARE``,
then protect functions and views with :func:`resilient`.
"""

from __future__ import annotations

from ._db import WorkerDatabaseError
from ._runtime import get_registry
from .decorators import resilient

__all__ = ["WorkerDatabaseError", "get_registry", "resilient"]

# Show the public path in reprs and tracebacks, not the private module.
for _name in ("WorkerDatabaseError", "get_registry"):
    globals()[_name].__module__ = __name__
del _name

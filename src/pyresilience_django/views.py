"""A ready-made JSON view of every policy's state."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse

from . import _runtime
from ._status import describe

__all__ = ["status"]


def status(request: HttpRequest) -> HttpResponse:
    """Answer ``{name: {"state": ..., ...}}`` for every policy.

    ``state`` is the breaker state or ``null``; see
    :func:`pyresilience_django._status.describe` for the other fields. The
    view exposes internal state: route it only where that is acceptable,
    e.g. ``path("resilience/", pyresilience_django.views.status)`` behind
    staff-only access.
    """
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    return JsonResponse(describe(_runtime.current()))

"""Views the pyresilience_django tests route to."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View

from pyresilience import CircuitOpenError, RateLimitExceededError
from pyresilience_django import resilient

#: How many times each view body ran, by view name.
RUNS: dict[str, int] = {}


def _ran(name: str) -> None:
    RUNS[name] = RUNS.get(name, 0) + 1


@resilient("inbound")
def guarded(request: HttpRequest) -> HttpResponse:
    """A view admitted by policy "inbound"."""
    _ran("guarded")
    if request.GET.get("fail"):
        raise RuntimeError("view failed")
    if request.GET.get("missing"):
        raise Http404("no such thing")
    if request.GET.get("forbidden"):
        raise PermissionDenied("not yours")
    return JsonResponse({"ok": True})


@resilient("inbound")
async def aguarded(request: HttpRequest) -> HttpResponse:
    """Async twin of :func:`guarded`."""
    _ran("aguarded")
    if request.GET.get("fail"):
        raise RuntimeError("view failed")
    if request.GET.get("missing"):
        raise Http404("no such thing")
    return JsonResponse({"ok": True})


@method_decorator(resilient("inbound"), name="get")
class GuardedView(View):
    """A class-based view guarded through method_decorator."""

    def get(self, request: HttpRequest) -> HttpResponse:
        _ran("GuardedView")
        return JsonResponse({"ok": True})


class MethodGuardedView(View):
    """A class-based view whose method is decorated directly."""

    @resilient("inbound")
    def get(self, request: HttpRequest) -> HttpResponse:
        _ran("MethodGuardedView")
        return JsonResponse({"ok": True})


def raises_open(request: HttpRequest) -> HttpResponse:
    """Raise an open-breaker rejection, as a call inside a view would."""
    raise CircuitOpenError(
        "breaker 'payment-api' is open", policy="payment-api", retry_after=2.3
    )


async def araises_limited(request: HttpRequest) -> HttpResponse:
    """Raise a rate-limit rejection from an async view."""
    raise RateLimitExceededError("no permit", policy="inbound", retry_after=0.2)


def crashes(request: HttpRequest) -> HttpResponse:
    """Raise an error that is not a resilience error."""
    raise ValueError("plain bug")

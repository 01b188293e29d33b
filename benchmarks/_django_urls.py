"""URLs and views of the web suite's Django project."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import path

from pyresilience_django import resilient

from ._suite_web import NAME


def bare(request: HttpRequest) -> HttpResponse:
    """Answer ``ok``; the floor."""
    return HttpResponse("ok")


@resilient(NAME)
def protected(request: HttpRequest) -> HttpResponse:
    """Answer ``ok`` behind the adapter's view decorator."""
    return HttpResponse("ok")


VIEWS: dict[str, Callable[[HttpRequest], HttpResponse]] = {
    "bare": bare,
    "protected": protected,
}


def dispatch(request: HttpRequest, view: str) -> HttpResponse:
    """Call the view named in the URL.

    One URL pattern serves every view, so each request pays the same URL
    resolution; with one pattern per view, the second would also pay for
    the first one's failed match.
    """
    return VIEWS[view](request)


urlpatterns = [path("<str:view>", dispatch)]

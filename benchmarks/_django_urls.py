"""URLs and views of the web suite's Django project."""

from __future__ import annotations

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


urlpatterns = [
    path("bare", bare),
    path("protected", protected),
]

"""A Django project for the web suite, served in process by the test Client.

Django's settings are global to the process, so the project is configured
once, here, the first time a client is asked for.
"""

from __future__ import annotations

import functools
from typing import Any

from ._subjects import Unavailable
from ._suite_web import NAME, POLICY

__all__ = ["plain_client", "resilient_client"]

MIDDLEWARE = "pyresilience_django.middleware.ResilienceMiddleware"


@functools.cache
def _setup() -> None:
    try:
        import django
        from django.conf import settings
    except ImportError as exc:
        raise Unavailable(f"django is not installed ({exc})") from None

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="benchmarks-only",
            ALLOWED_HOSTS=["testserver"],
            ROOT_URLCONF="benchmarks._django_urls",
            INSTALLED_APPS=["pyresilience_django"],
            MIDDLEWARE=[MIDDLEWARE],
            DATABASES={},
            USE_TZ=True,
            RESILIENCE={"POLICIES": {NAME: POLICY}},
        )
    try:
        django.setup()
    except ImportError as exc:
        raise Unavailable(f"Django adapter not importable ({exc})") from None


def _client(middleware: list[str]) -> Any:
    _setup()
    from django.test import Client
    from django.test.utils import override_settings

    client = Client()
    # The handler builds its middleware chain on its first request and keeps
    # it, so each client is pinned to the middleware it was warmed up with.
    with override_settings(MIDDLEWARE=middleware):
        response = client.get("/bare")
    if response.status_code != 200:
        raise RuntimeError(f"warm-up request got HTTP {response.status_code}")
    return client


@functools.cache
def plain_client() -> Any:
    """Return a client whose project runs no pyresilience middleware."""
    return _client([])


@functools.cache
def resilient_client() -> Any:
    """Return a client whose project runs ``ResilienceMiddleware``."""
    return _client([MIDDLEWARE])

"""Django for the pyresilience_django tests: settings, clients, a fake clock.

Django is configured here, once per session, with ``settings.configure``;
each test states its own ``RESILIENCE`` with ``override_settings``.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import django
import pytest
from django.conf import settings

from pyresilience.testing import FakeClock

if not settings.configured:
    _DB_DIR = tempfile.mkdtemp(prefix="pyresilience-django-")
    atexit.register(shutil.rmtree, _DB_DIR, ignore_errors=True)
    settings.configure(
        SECRET_KEY="tests-only",
        DEBUG=False,
        ALLOWED_HOSTS=["testserver"],
        INSTALLED_APPS=["pyresilience_django"],
        MIDDLEWARE=["pyresilience_django.middleware.ResilienceMiddleware"],
        ROOT_URLCONF="djapp_urls",
        # A file, not ":memory:": Django never closes in-memory SQLite
        # connections, and the tests check that worker connections close.
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(Path(_DB_DIR) / "tests.sqlite3"),
            }
        },
        USE_TZ=True,
        RESILIENCE={"POLICIES": {"base": {"retry": {"max_attempts": 2}}}},
    )
    django.setup()

from pyresilience_django.testing import use_clock


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    """Policies run on virtual time for the test's duration."""
    with use_clock(FakeClock()) as fake:
        yield fake

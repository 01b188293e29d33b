"""Settings of the example project; only what the example needs.

Environment:

- ``UPSTREAM_URL``: the flaky service (default ``http://127.0.0.1:8001``).
- ``RESILIENCE_STORE``: e.g. ``redis://127.0.0.1:6379/0`` so several server
  processes share breakers and rate limits; in-process memory when unset.
- ``DEMO_VIEWS``: ``sync`` or ``async``, which views ``/quote`` and
  ``/limited`` use. ``asgi.py`` picks ``async``, everything else ``sync``.
"""

import os

# A throwaway key: this project only ever listens on 127.0.0.1.
SECRET_KEY = "example-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

INSTALLED_APPS = ["pyresilience_django"]
MIDDLEWARE = [
    "pyresilience_django.middleware.ResilienceMiddleware",
    "django.middleware.common.CommonMiddleware",
]
ROOT_URLCONF = "demo_project.urls"
WSGI_APPLICATION = "demo_project.wsgi.application"
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True

UPSTREAM_URL = os.environ.get("UPSTREAM_URL", "http://127.0.0.1:8001").rstrip("/")
DEMO_ASYNC_VIEWS = os.environ.get("DEMO_VIEWS", "sync") == "async"

RESILIENCE = {
    # Every policy starts from this; a policy overrides only what it names.
    "DEFAULT": {"timeout": {"seconds": 10}},
    "POLICIES": {
        # Outbound: the upstream's /quote.
        "upstream": {
            "retry": {"max_attempts": 3, "delay": 0.05, "max_delay": 0.2},
            "timeout": {"seconds": "1s"},
            "circuit_breaker": {
                "failure_threshold": 3,
                "recovery_timeout": "2s",
                "success_threshold": 1,
            },
        },
        # Inbound: admission to the /limited view. A view is never retried
        # or timed out, so only the limiter and bulkhead matter here.
        "inbound": {
            "timeout": None,
            "rate_limiter": {"max_calls": 5, "period": "1s"},
            "bulkhead": {"max_concurrent": 4},
        },
    },
    "STORE": os.environ.get("RESILIENCE_STORE") or None,
}

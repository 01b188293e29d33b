"""System checks: ``manage.py check`` reports every bad ``RESILIENCE`` key.

Ids are stable:

- ``pyresilience.E001``: ``RESILIENCE`` is not a dict.
- ``pyresilience.E002``: an unknown key in ``RESILIENCE``.
- ``pyresilience.E003``: ``HTTP_ERRORS`` is not a bool.
- ``pyresilience.E004``: ``STORE`` is not a usable store.
- ``pyresilience.E005``: ``DEFAULT`` is not a valid policy.
- ``pyresilience.E006``: ``POLICIES`` is not a dict of names to policies.
- ``pyresilience.E007``: a policy is invalid (one error per bad value).
- ``pyresilience.W001``: ``ResilienceMiddleware`` is missing while
  ``HTTP_ERRORS`` is on, so rejections become 500 responses.
- ``pyresilience.W002``: a legal but suspicious combination of values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core import checks

from ._build import build
from .conf import conf

__all__ = ["MIDDLEWARE_PATH", "check_settings"]

MIDDLEWARE_PATH = "pyresilience_django.middleware.ResilienceMiddleware"


def check_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Report every problem in ``settings.RESILIENCE`` and its wiring."""
    messages: list[checks.CheckMessage] = []
    for problem in build(conf.RESILIENCE).problems:
        kind = checks.Error if problem.level == "error" else checks.Warning
        messages.append(kind(problem.message, hint=problem.hint, id=problem.id))
    messages.extend(_check_middleware())
    return messages


def _check_middleware() -> list[checks.CheckMessage]:
    middleware = getattr(settings, "MIDDLEWARE", None) or ()
    if not conf.HTTP_ERRORS or MIDDLEWARE_PATH in middleware:
        return []
    return [
        checks.Warning(
            f"{MIDDLEWARE_PATH} is not in MIDDLEWARE, so open breakers, full "
            "bulkheads, rate limits and timeouts raised in views become 500 "
            "responses",
            hint=(
                f'Add "{MIDDLEWARE_PATH}" near the top of MIDDLEWARE, or set '
                'RESILIENCE["HTTP_ERRORS"] = False if you map these errors '
                "yourself."
            ),
            id="pyresilience.W001",
        )
    ]

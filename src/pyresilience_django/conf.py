"""Read ``settings.RESILIENCE`` at access time, never at import time.

Reading lazily keeps ``override_settings`` working and lets this package be
imported before Django's settings are configured.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings

__all__ = ["KEYS", "SETTING", "Settings", "conf"]

SETTING = "RESILIENCE"
"""The name of the Django setting this app reads."""

KEYS = ("DEFAULT", "POLICIES", "STORE", "HTTP_ERRORS")
"""The keys ``settings.RESILIENCE`` may hold."""


class Settings:
    """One read-only property per key of ``settings.RESILIENCE``.

    Properties return the raw values; :mod:`pyresilience_django.checks`
    reports the bad ones.
    """

    @property
    def RESILIENCE(self) -> Any:
        """The whole setting; ``{}`` when it is not set."""
        return getattr(settings, SETTING, {})

    @property
    def HTTP_ERRORS(self) -> bool:
        """Whether the middleware maps resilience errors to responses."""
        value = self.RESILIENCE
        if not isinstance(value, Mapping):
            return True
        return bool(value.get("HTTP_ERRORS", True))


conf = Settings()

"""The app config: checks, the registry and the settings signal."""

from __future__ import annotations

from django.apps import AppConfig
from django.core import checks
from django.core.signals import setting_changed

from . import _runtime
from .checks import check_settings


class PyresilienceDjangoConfig(AppConfig):  # type: ignore[misc]
    """Builds the project's registry from ``settings.RESILIENCE``."""

    name = "pyresilience_django"
    verbose_name = "pyresilience"

    def ready(self) -> None:
        """Register the checks and build the registry; safe to call twice.

        A bad setting never stops the project from loading: it is logged
        here, reported by ``manage.py check``, and calls through the broken
        policy raise its error.
        """
        checks.register(check_settings, "pyresilience")
        setting_changed.connect(
            _runtime.on_setting_changed,
            dispatch_uid="pyresilience_django.on_setting_changed",
        )
        _runtime.current()

"""Read the extension's settings from ``app.config`` and build a registry."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pyresilience import Clock, ConfigError, ResilienceRegistry
from pyresilience.config import load_config, load_policies, load_store

from ._constants import ConfigKeys, config_path
from ._passthrough import pass_http_errors

__all__ = ["ResilienceSettings"]


@dataclass(frozen=True)
class ResilienceSettings:
    """The extension's options for one app, as read from ``app.config``.

    Attributes:
        policies: ``RESILIENCE_POLICIES``: policy name to policy mapping.
        default: ``RESILIENCE_DEFAULT``: the mapping every policy inherits
            and unknown names fall back to, or ``None``.
        store: ``RESILIENCE_STORE``: anything ``load_store`` accepts.
        http_errors: ``RESILIENCE_HTTP_ERRORS``: map resilience errors to
            HTTP responses.
        clock: ``RESILIENCE_CLOCK``: the clock of every policy, or ``None``
            for the system clock.
    """

    policies: Mapping[str, Any]
    default: Any
    store: Any
    http_errors: bool
    clock: Clock | None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ResilienceSettings:
        """Read the settings, applying defaults for keys that are not set.

        Raises:
            ConfigError: A value has the wrong type; the message names the
                key, the value and what is allowed.
        """
        _refuse_unknown_keys(config)
        http_errors = config.get(ConfigKeys.HTTP_ERRORS, True)
        if not isinstance(http_errors, bool):
            raise ConfigError(
                f"must be True or False, got {http_errors!r}",
                path=config_path(ConfigKeys.HTTP_ERRORS),
            )

        clock = config.get(ConfigKeys.CLOCK)
        if clock is not None and not isinstance(clock, Clock):
            raise ConfigError(
                "must be None or a clock with monotonic(), wall(), sleep() and "
                f"asleep() (e.g. pyresilience.testing.FakeClock), got {clock!r}",
                path=config_path(ConfigKeys.CLOCK),
            )

        policies = config.get(ConfigKeys.POLICIES)
        return cls(
            policies={} if policies is None else policies,
            default=config.get(ConfigKeys.DEFAULT),
            store=config.get(ConfigKeys.STORE),
            http_errors=http_errors,
            clock=clock,
        )

    def build_registry(self) -> ResilienceRegistry:
        """Load every policy with the core loader and register it.

        Raises:
            ConfigError: A policy, the default or the store is invalid; the
                message starts with the full key path, e.g.
                ``app.config["RESILIENCE_POLICIES"]["payment-api"]["retry"]``.
        """
        default = None
        if self.default is not None:
            loaded = load_config(self.default, path=config_path(ConfigKeys.DEFAULT))
            default = pass_http_errors(loaded)
        policies = load_policies(
            self.policies,
            path=config_path(ConfigKeys.POLICIES),
            default=self.default,
        )
        store = load_store(self.store, path=config_path(ConfigKeys.STORE))

        registry = ResilienceRegistry(store=store, clock=self.clock, default=default)
        for name, policy in policies.items():
            registry.register(name, pass_http_errors(policy))
        return registry


_KNOWN_KEYS = (
    ConfigKeys.POLICIES,
    ConfigKeys.DEFAULT,
    ConfigKeys.STORE,
    ConfigKeys.HTTP_ERRORS,
    ConfigKeys.CLOCK,
)


def _refuse_unknown_keys(config: Mapping[str, Any]) -> None:
    """A misspelt ``RESILIENCE_*`` key would otherwise be ignored silently."""
    for key in config:
        if str(key).startswith("RESILIENCE_") and key not in _KNOWN_KEYS:
            raise ConfigError(
                f"unknown setting {key!r}; allowed: {', '.join(_KNOWN_KEYS)}",
                path=config_path(key),
            )

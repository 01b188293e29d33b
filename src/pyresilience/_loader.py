"""Build configs, policies and stores from plain mappings (settings files).

One loader serves the core and every adapter. Keys are the dataclass field
names; durations are seconds or strings such as ``"250ms"``, ``"30s"``,
``"2m"``, ``"1h"``; exception types and callables are dotted import paths.
A policy may name another with ``"extends"`` and override only some fields;
every policy otherwise builds on the default. Every error is a
:class:`ConfigError` whose message starts with the full key path.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from ._config import (
    BulkheadConfig,
    CacheConfig,
    CircuitBreakerConfig,
    FallbackConfig,
    RateLimiterConfig,
    ResilienceConfig,
    RetryBudgetConfig,
    RetryConfig,
    TimeoutConfig,
)
from ._exceptions import ConfigError
from ._store import MemoryStore, StateStore

__all__ = [
    "load_config",
    "load_policies",
    "load_registry_parts",
    "load_store",
    "parse_duration",
]

SECTIONS: dict[str, type[Any]] = {
    "retry": RetryConfig,
    "timeout": TimeoutConfig,
    "circuit_breaker": CircuitBreakerConfig,
    "fallback": FallbackConfig,
    "bulkhead": BulkheadConfig,
    "rate_limiter": RateLimiterConfig,
    "cache": CacheConfig,
    "retry_budget": RetryBudgetConfig,
}

_DURATIONS = {
    "delay",
    "max_delay",
    "seconds",
    "recovery_timeout",
    "slow_call_duration",
    "max_wait",
    "period",
    "ttl",
}
_EXCEPTIONS = {"retry_on", "ignore_on", "error_types", "fallback_on"}
_CALLABLES = {"retry_on_result", "delay_func"}
_EXTENDS = "extends"

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)?\s*$")
_FIELD_RE = re.compile(r"^\w+\.(\w+)")


def key_path(path: str, key: object) -> str:
    """``path["key"]``: how a nested key is shown in error messages."""
    shown = json.dumps(key) if isinstance(key, str) else repr(key)
    return f"{path}[{shown}]"


def parse_duration(value: object, *, path: str) -> float:
    """Seconds from a number or a string like ``"250ms"``, ``"30s"``, ``"2m"``."""
    if isinstance(value, bool):
        raise ConfigError(_duration_help(value), path=path)
    try:
        if isinstance(value, (int, float)):
            seconds = float(value)
        elif isinstance(value, str) and (match := _DURATION_RE.match(value)):
            seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
        else:
            raise ConfigError(_duration_help(value), path=path)
    except OverflowError:
        seconds = math.inf
    if not math.isfinite(seconds):
        raise ConfigError(
            f"expected a finite duration, got {value!r}", path=path
        ) from None
    return seconds


def _duration_help(value: object) -> str:
    return (
        f"expected a duration (seconds as a number, or a string such as "
        f'"250ms", "30s", "2m", "1h"), got {value!r}'
    )


def import_object(dotted: object, *, path: str) -> Any:
    """Import ``package.module.name``; builtins may be given bare (``"ValueError"``)."""
    if not isinstance(dotted, str) or not dotted.strip():
        raise ConfigError(f"expected a dotted import path, got {dotted!r}", path=path)
    module_name, _, attribute = dotted.strip().rpartition(".")
    try:
        module = importlib.import_module(module_name or "builtins")
        return getattr(module, attribute)
    except (ImportError, AttributeError) as error:
        raise ConfigError(
            f"cannot import {dotted!r} ({error}); give a dotted path such as "
            '"httpx.ConnectError" or a builtin name such as "TimeoutError"',
            path=path,
        ) from None


def _exception_types(value: object, *, path: str) -> tuple[type[BaseException], ...]:
    items = [value] if isinstance(value, (str, type)) else value
    if not isinstance(items, (list, tuple)):
        raise ConfigError(
            f"expected an exception path or a list of them, got {value!r}", path=path
        )
    result = []
    for index, item in enumerate(items):
        item_path = key_path(path, index) if not isinstance(value, str) else path
        kind = item if isinstance(item, type) else import_object(item, path=item_path)
        if not (isinstance(kind, type) and issubclass(kind, BaseException)):
            raise ConfigError(f"{item!r} is not an exception class", path=item_path)
        result.append(kind)
    return tuple(result)


def _callable(value: object, *, path: str) -> Callable[..., Any] | None:
    if value is None or callable(value):
        return value
    found = import_object(value, path=path)
    if not callable(found):
        raise ConfigError(f"{value!r} is not callable", path=path)
    return found  # type: ignore[no-any-return]


def _field_value(section: str, field: str, value: object, *, path: str) -> object:
    if field in _DURATIONS:
        return parse_duration(value, path=path)
    if field in _EXCEPTIONS:
        return _exception_types(value, path=path)
    if field in _CALLABLES:
        return _callable(value, path=path)
    # For the fallback handler, a mapping {"call": "pkg.fn"} names a function;
    # anything else is a literal value.
    is_handler = section == "fallback" and field == "handler"
    if is_handler and isinstance(value, Mapping) and set(value) == {"call"}:
        return _callable(value["call"], path=key_path(path, "call"))
    return value


def _load_section(name: str, data: object, *, path: str) -> Any:
    kind = SECTIONS[name]
    if isinstance(data, kind):
        return data
    if data is True:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"expected a mapping of {kind.__name__} fields (or null), got {data!r}",
            path=path,
        )
    allowed = [field.name for field in dataclasses.fields(kind)]
    values = {}
    for field, value in data.items():
        field_path = key_path(path, field)
        if field not in allowed:
            raise ConfigError(
                f"unknown field {field!r}; allowed: {', '.join(allowed)}",
                path=field_path,
            )
        values[field] = _field_value(name, field, value, path=field_path)
    try:
        return kind(**values)
    except (TypeError, ValueError) as error:
        match = _FIELD_RE.match(str(error))
        where = key_path(path, match.group(1)) if match else path
        raise ConfigError(str(error), path=where) from None


def _as_mapping(config: ResilienceConfig) -> dict[str, Any]:
    """A config as loader input, so mappings can extend config objects."""
    data: dict[str, Any] = {}
    for name in SECTIONS:
        section = getattr(config, name)
        if section is not None:
            data[name] = {
                field.name: getattr(section, field.name)
                for field in dataclasses.fields(section)
            }
    if config.listeners:
        data["listeners"] = list(config.listeners)
    return data


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = {key: value for key, value in base.items() if key != _EXTENDS}
    for key, value in override.items():
        if key == _EXTENDS:
            continue
        current = merged.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = {**current, **value}
        else:
            merged[key] = value
    return merged


def _build(data: Mapping[str, Any], *, path: str) -> ResilienceConfig:
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key == _EXTENDS:
            continue
        item_path = key_path(path, key)
        if key == "listeners":
            listeners = value if isinstance(value, (list, tuple)) else [value]
            values[key] = tuple(
                _callable(item, path=key_path(item_path, index))
                for index, item in enumerate(listeners)
            )
        elif key in SECTIONS:
            if value is not None and value is not False:
                values[key] = _load_section(key, value, path=item_path)
        else:
            allowed = ", ".join([*SECTIONS, "listeners", _EXTENDS])
            raise ConfigError(
                f"unknown key {key!r}; allowed: {allowed}", path=item_path
            )
    try:
        return ResilienceConfig(**values)
    except (TypeError, ValueError) as error:
        raise ConfigError(str(error), path=path) from None


def _require_mapping(value: object, *, path: str, what: str) -> Mapping[str, Any]:
    if isinstance(value, ResilienceConfig):
        return _as_mapping(value)
    if not isinstance(value, Mapping):
        raise ConfigError(f"expected {what}, got {value!r}", path=path)
    return value


def load_config(
    mapping: Mapping[str, Any] | ResilienceConfig,
    *,
    path: str = "config",
    profiles: Mapping[str, Any] | None = None,
) -> ResilienceConfig:
    """Build one :class:`ResilienceConfig` from nested plain data.

    Args:
        mapping: Section name to field mapping, e.g.
            ``{"retry": {"max_attempts": 3}, "timeout": {"seconds": "2s"}}``;
            ``"extends": "name"`` builds on ``profiles[name]``.
        path: How the mapping is named in error messages.
        profiles: Named mappings (or configs) that ``extends`` may refer to.

    Raises:
        ConfigError: naming the key path, the bad value and what is allowed.
    """
    if isinstance(mapping, ResilienceConfig):
        return mapping
    data = _require_mapping(mapping, path=path, what="a mapping of policy sections")
    parent = data.get(_EXTENDS)
    if parent is not None:
        data = _merge(_resolve_profile(parent, profiles or {}, path, ()), data)
    return _build(data, path=path)


def _resolve_profile(
    name: object,
    profiles: Mapping[str, Any],
    path: str,
    seen: tuple[str, ...],
) -> dict[str, Any]:
    where = key_path(path, _EXTENDS)
    if not isinstance(name, str) or name not in profiles:
        known = ", ".join(repr(n) for n in sorted(profiles)) or "none"
        raise ConfigError(
            f"extends unknown profile {name!r}; known: {known}", path=where
        )
    if name in seen:
        chain = " -> ".join([*seen, name])
        raise ConfigError(f"profiles extend each other in a cycle: {chain}", path=where)
    data = _require_mapping(profiles[name], path=where, what="a profile mapping")
    parent = data.get(_EXTENDS)
    if parent is None:
        return dict(data)
    return _merge(_resolve_profile(parent, profiles, path, (*seen, name)), data)


def load_policies(
    mapping: Mapping[str, Any],
    *,
    path: str = "policies",
    default: Mapping[str, Any] | ResilienceConfig | None = None,
) -> dict[str, ResilienceConfig]:
    """Build every named policy of ``mapping``.

    Each policy builds on ``default`` (field by field) unless it names
    another policy with ``"extends"``, whose chain then ends at the default.
    A section set to ``None`` removes what the base had.

    Raises:
        ConfigError: naming the key path, e.g.
            ``RESILIENCE["POLICIES"]["payment-api"]["retry"]["max_attempts"]``.
    """
    policies = _require_mapping(mapping, path=path, what="a mapping of policy names")
    base = _require_mapping(default, path=path, what="a mapping") if default else {}
    own: dict[str, Mapping[str, Any]] = {}
    for name, data in policies.items():
        policy_path = key_path(path, name)
        if not name or not isinstance(name, str):
            raise ConfigError(
                "policy names must be non-empty strings", path=policy_path
            )
        own[name] = _require_mapping(
            data, path=policy_path, what="a mapping of sections"
        )
    # A profile chain ends at the default: the root of every chain builds on it.
    profiles = {
        name: data if _EXTENDS in data else _merge(base, data)
        for name, data in own.items()
    }
    result = {}
    for name, data in own.items():
        policy_path = key_path(path, name)
        if _EXTENDS in data:
            merged = _resolve_profile(data[_EXTENDS], profiles, policy_path, (name,))
            chain: Mapping[str, Any] = _merge(merged, data)
        else:
            chain = profiles[name]
        result[name] = _build(chain, path=policy_path)
    return result


def load_store(value: object, *, path: str = "store") -> StateStore:
    """A state store from settings.

    Accepts ``None`` or ``"memory://"`` (in-process), a ``StateStore``
    instance, a ``redis://``, ``rediss://`` or ``unix://`` URL, or a mapping
    ``{"url": ..., "prefix": ..., "timeout": ...}``.
    """
    if value is None or value in ("memory", "memory://"):
        return MemoryStore()
    if isinstance(value, StateStore):
        return value
    options: dict[str, Any] = {}
    url = value
    if isinstance(value, Mapping):
        unknown = set(value) - {"url", "prefix", "timeout"}
        if unknown:
            raise ConfigError(
                f"unknown store option(s) {sorted(unknown)}; allowed: url, prefix, "
                "timeout",
                path=path,
            )
        url = value.get("url")
        if "prefix" in value:
            options["prefix"] = value["prefix"]
        if "timeout" in value:
            options["timeout"] = parse_duration(
                value["timeout"], path=key_path(path, "timeout")
            )
    if not isinstance(url, str) or not url.startswith(
        ("redis://", "rediss://", "unix://")
    ):
        raise ConfigError(
            f"expected None, 'memory://', a redis:// / rediss:// / unix:// URL, a "
            f"StateStore or a mapping with 'url', got {value!r}",
            path=path,
        )
    try:
        from .stores import RedisStore
    except ImportError as error:
        raise ConfigError(
            f"a Redis store needs the redis package ({error}); install "
            "pyresilience[redis]",
            path=path,
        ) from None
    try:
        store: StateStore = RedisStore.from_url(url, **options)
    except (TypeError, ValueError) as error:
        raise ConfigError(str(error), path=path) from None
    return store


def load_registry_parts(
    mapping: Mapping[str, Any], *, path: str
) -> tuple[ResilienceConfig | None, dict[str, ResilienceConfig], StateStore | None]:
    """Split a registry mapping into default config, policies and store."""
    data = _require_mapping(mapping, path=path, what="a mapping")
    keys: dict[str, Any] = {}
    for key in data:
        folded = str(key).lower()
        if folded in keys:
            raise ConfigError(
                f"{keys[folded]!r} and {key!r} are the same key in another letter "
                "case; keep one",
                path=key_path(path, key),
            )
        keys[folded] = key
    unknown = set(keys) - {"default", "policies", "store", "http_errors"}
    if unknown:
        first = keys[sorted(unknown)[0]]
        raise ConfigError(
            f"unknown key {first!r}; allowed: DEFAULT, POLICIES, STORE, HTTP_ERRORS",
            path=key_path(path, first),
        )
    default_data = data.get(keys["default"]) if "default" in keys else None
    default = None
    if default_data is not None:
        default = load_config(default_data, path=key_path(path, keys["default"]))
    policies: dict[str, ResilienceConfig] = {}
    if "policies" in keys and data[keys["policies"]] is not None:
        policies = load_policies(
            data[keys["policies"]],
            path=key_path(path, keys["policies"]),
            default=default_data,
        )
    store = None
    if "store" in keys and data[keys["store"]] is not None:
        store = load_store(data[keys["store"]], path=key_path(path, keys["store"]))
    return default, policies, store

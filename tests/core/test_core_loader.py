"""Loading configs, policies and registries from plain mappings."""

from __future__ import annotations

import pytest

from pyresilience import (
    CircuitState,
    ConfigError,
    MemoryStore,
    ResilienceConfig,
    ResilienceRegistry,
)
from pyresilience.config import load_config, load_policies, load_store, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("30s", 30.0),
        ("2m", 120.0),
        ("1h", 3600.0),
        ("1.5", 1.5),
        (3, 3.0),
        (0.5, 0.5),
    ],
)
def test_durations(text, seconds) -> None:
    """Durations are numbers of seconds or strings with ms/s/m/h units."""
    assert parse_duration(text, path="x") == seconds


@pytest.mark.parametrize("bad", ["soon", "-1s", "1d", True, None, [1]])
def test_bad_durations_say_what_is_allowed(bad) -> None:
    """A bad duration names the path, the value and the accepted forms."""
    with pytest.raises(ConfigError) as caught:
        parse_duration(bad, path='C["t"]')
    assert str(caught.value).startswith('C["t"]: ')
    assert "30s" in str(caught.value)


def test_full_config_from_mapping() -> None:
    """Every section, durations, exception paths and callables load."""
    config = ResilienceConfig.from_mapping(
        {
            "retry": {
                "max_attempts": 4,
                "delay": "100ms",
                "retry_on": ["ConnectionError", "socket.timeout"],
                "retry_on_result": "builtins.bool",
            },
            "timeout": {"seconds": "2s", "per_attempt": False},
            "circuit_breaker": {"failure_threshold": 3, "recovery_timeout": "1m"},
            "fallback": {"handler": {"call": "builtins.repr"}},
            "bulkhead": {"max_concurrent": 4},
            "rate_limiter": {"max_calls": 10, "period": "1s"},
            "cache": {"ttl": "5m"},
            "retry_budget": {"max_retries": 5},
        }
    )
    import socket

    assert config.retry.delay == 0.1
    assert config.retry.retry_on == (ConnectionError, socket.timeout)
    assert config.retry.retry_on_result is bool
    assert config.timeout.seconds == 2.0 and not config.timeout.per_attempt
    assert config.circuit_breaker.recovery_timeout == 60.0
    assert config.fallback.handler is repr
    assert config.cache.ttl == 300.0
    assert config.retry_budget.max_retries == 5


@pytest.mark.parametrize(
    ("mapping", "path", "fragment"),
    [
        (
            {"retry": {"max_attempts": 0}},
            'RESILIENCE["POLICIES"]["pay"]["retry"]["max_attempts"]',
            "must be >= 1, got 0",
        ),
        (
            {"retry": {"attempts": 3}},
            'RESILIENCE["POLICIES"]["pay"]["retry"]["attempts"]',
            "allowed: max_attempts, delay",
        ),
        (
            {"retries": {}},
            'RESILIENCE["POLICIES"]["pay"]["retries"]',
            "allowed: retry, timeout",
        ),
        (
            {"retry": {"retry_on": ["nowhere.Missing"]}},
            'RESILIENCE["POLICIES"]["pay"]["retry"]["retry_on"][0]',
            "cannot import 'nowhere.Missing'",
        ),
        (
            {"circuit_breaker": {"recovery_timeout": "soon"}},
            'RESILIENCE["POLICIES"]["pay"]["circuit_breaker"]["recovery_timeout"]',
            "'soon'",
        ),
        (
            {"retry": {"retry_on": ["builtins.len"]}},
            'RESILIENCE["POLICIES"]["pay"]["retry"]["retry_on"][0]',
            "not an exception class",
        ),
        (
            {"retry": {"delay": 5, "max_delay": 1}},
            'RESILIENCE["POLICIES"]["pay"]["retry"]["max_delay"]',
            "must be >= delay",
        ),
        ({"retry": 3}, 'RESILIENCE["POLICIES"]["pay"]["retry"]', "expected a mapping"),
    ],
)
def test_errors_name_the_full_key_path(mapping, path, fragment) -> None:
    """Every loader error starts with the full key path and says what is wrong."""
    with pytest.raises(ConfigError) as caught:
        load_policies({"pay": mapping}, path='RESILIENCE["POLICIES"]')
    assert str(caught.value).startswith(path + ": ")
    assert fragment in str(caught.value)
    assert caught.value.path == path


def test_policies_build_on_default_and_extend_each_other() -> None:
    """Policies inherit the default; extends chains several levels."""
    policies = load_policies(
        {
            "base": {"retry": {"max_attempts": 5, "delay": 0}},
            "child": {"extends": "base", "retry": {"max_attempts": 2}},
            "grandchild": {"extends": "child", "timeout": None},
            "plain": {},
        },
        path="P",
        default={"timeout": {"seconds": 7}},
    )
    assert policies["plain"].timeout.seconds == 7.0
    assert policies["base"].retry.max_attempts == 5
    assert policies["child"].retry.max_attempts == 2
    assert policies["child"].retry.delay == 0.0
    assert policies["child"].timeout.seconds == 7.0
    assert policies["grandchild"].retry.max_attempts == 2
    assert policies["grandchild"].timeout is None


def test_extends_errors() -> None:
    """Unknown parents and cycles are reported with the path."""
    with pytest.raises(ConfigError, match=r'P\["a"\]\["extends"\]: .*known: \'a\''):
        load_policies({"a": {"extends": "nope"}}, path="P")
    with pytest.raises(ConfigError, match="cycle: a -> b -> a"):
        load_policies({"a": {"extends": "b"}, "b": {"extends": "a"}}, path="P")


def test_load_config_with_profiles() -> None:
    """load_config resolves extends against the profiles given."""
    config = load_config(
        {"extends": "fast", "cache": {}},
        profiles={"fast": {"timeout": {"seconds": "250ms"}}},
    )
    assert config.timeout.seconds == 0.25 and config.cache is not None


def test_registry_from_mapping_any_key_case() -> None:
    """from_mapping accepts DEFAULT/POLICIES/STORE in any case."""
    registry = ResilienceRegistry.from_mapping(
        {
            "DEFAULT": {"circuit_breaker": {"failure_threshold": 1}},
            "policies": {"pay": {"retry": {"max_attempts": 2, "delay": 0}}},
            "Store": "memory://",
            "HTTP_ERRORS": False,
        },
        path="RESILIENCE",
    )
    assert registry.names == ["pay"]
    assert registry.get("pay").retry.max_attempts == 2
    assert registry.get("pay").circuit_breaker.failure_threshold == 1
    assert registry.policy("other").circuit_breaker is not None
    assert isinstance(registry.store, MemoryStore)
    assert registry.status()["pay"].breaker.state is CircuitState.CLOSED


def test_registry_from_mapping_rejects_unknown_top_level_keys() -> None:
    """A misspelt top-level key is reported with the allowed ones."""
    with pytest.raises(ConfigError, match=r'RESILIENCE\["POLICY"\]: unknown key'):
        ResilienceRegistry.from_mapping({"POLICY": {}}, path="RESILIENCE")


@pytest.mark.parametrize("value", [42, "mongodb://x", {"uri": "redis://x"}])
def test_bad_store_settings(value) -> None:
    """Unknown store settings fail with the accepted forms."""
    with pytest.raises(ConfigError, match="store"):
        load_store(value, path="store")

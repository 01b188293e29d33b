"""Adversarial tests of config validation and the mapping loader's messages."""

from __future__ import annotations

import dataclasses

import pytest

from pyresilience import (
    CircuitBreakerConfig,
    ConfigError,
    ResilienceConfig,
    ResilienceRegistry,
    RetryConfig,
    TimeoutConfig,
)
from pyresilience.config import load_config, load_policies

ROOT = 'RESILIENCE["POLICIES"]'


@pytest.mark.parametrize(
    "section, path, fragments",
    [
        (
            {"circuit_breaker": {"failure_rate_threshold": 2}},
            '["circuit_breaker"]["failure_rate_threshold"]',
            ["(0, 1]", "got 2"],
        ),
        (
            {"circuit_breaker": {"sliding_window_size": 2, "minimum_calls": 5}},
            '["circuit_breaker"]["minimum_calls"]',
            ["(5)", "sliding_window_size (2)"],
        ),
        (
            {"timeout": {"seconds": "0ms"}},
            '["timeout"]["seconds"]',
            ["> 0 seconds", "got 0.0"],
        ),
        (
            {"timeout": {"per_attempt": "no"}},
            '["timeout"]["per_attempt"]',
            ["True or False", "'no'"],
        ),
        (
            {"retry": {"max_attempts": "3"}},
            '["retry"]["max_attempts"]',
            ["must be an integer", "'3'"],
        ),
        (
            {"circuit_breaker": {"ignore_on": ["KeyError", "NoSuchError"]}},
            '["circuit_breaker"]["ignore_on"][1]',
            ["'NoSuchError'", "dotted path"],
        ),
        (
            {"fallback": {"handler": {"call": "nowhere.handler"}}},
            '["fallback"]["handler"]["call"]',
            ["cannot import 'nowhere.handler'"],
        ),
        (
            {"listeners": ["os.sep"]},
            '["listeners"][0]',
            ["'os.sep' is not callable"],
        ),
        (
            {"bulkhead": {"max_concurrent": 0}},
            '["bulkhead"]["max_concurrent"]',
            [">= 1", "got 0"],
        ),
        (
            {"retry": {1: 2}},
            '["retry"][1]',
            ["unknown field 1", "allowed: max_attempts"],
        ),
    ],
)
def test_errors_name_full_path_value_and_rule(
    section: dict[str, object], path: str, fragments: list[str]
) -> None:
    """Each error starts with the full key path and names value and what is allowed."""
    with pytest.raises(ConfigError) as caught:
        ResilienceRegistry.from_mapping(
            {"POLICIES": {"payment-api": section}}, path="RESILIENCE"
        )
    expected_path = f'{ROOT}["payment-api"]{path}'
    assert caught.value.path == expected_path
    assert str(caught.value).startswith(expected_path + ": ")
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_error_in_default_names_the_default_path() -> None:
    """A bad default is reported under DEFAULT, in the key case the user wrote."""
    with pytest.raises(ConfigError) as caught:
        ResilienceRegistry.from_mapping(
            {"default": {"retry": {"max_attempts": -2}}, "policies": {"a": {}}},
            path="settings.RESILIENCE",
        )
    assert (
        caught.value.path == 'settings.RESILIENCE["default"]["retry"]["max_attempts"]'
    )


def test_self_extension_is_a_cycle() -> None:
    """A policy extending itself is reported as a cycle, with its path."""
    with pytest.raises(ConfigError) as caught:
        load_policies({"a": {"extends": "a"}}, path="P")
    assert caught.value.path == 'P["a"]["extends"]'
    assert "a -> a" in str(caught.value)


def test_same_top_level_key_in_two_cases_is_refused() -> None:
    """An ambiguous mapping with 'policies' and 'POLICIES' is an error, not a guess."""
    mapping: dict[str, object] = {"policies": {"a": {}}, "POLICIES": {"b": {}}}
    try:
        names = ResilienceRegistry.from_mapping(mapping, path="R").names
    except ConfigError as error:
        assert "policies" in str(error).lower()
        return
    raise AssertionError(f"accepted silently, kept only {names}")


@pytest.mark.parametrize(
    "build",
    [
        lambda: TimeoutConfig(seconds=10**400),
        lambda: RetryConfig(delay=10**400, max_delay=10**401),
        lambda: load_config({"timeout": {"seconds": 10**400}}, path="C"),
    ],
    ids=["TimeoutConfig", "RetryConfig", "load_config"],
)
def test_huge_integer_durations_raise_value_errors(build: object) -> None:
    """An out-of-range integer duration is a ValueError naming the field."""
    try:
        build()  # type: ignore[operator]
    except ValueError as error:
        assert "seconds" in str(error) or "delay" in str(error)
        return
    except OverflowError as error:
        raise AssertionError(f"bare OverflowError: {error}") from None
    raise AssertionError("accepted a duration of 10**400 seconds")


def test_replace_success_threshold_moves_the_default_probe_limit() -> None:
    """Changing success_threshold alone keeps the probe limit equal to it."""
    derived = dataclasses.replace(CircuitBreakerConfig(), success_threshold=5)
    assert derived.probe_limit == 5


def test_policy_on_config_default_gets_same_probe_limit_as_on_mapping() -> None:
    """A default given as a config object or as a mapping yields the same policy."""
    override = {"x": {"circuit_breaker": {"success_threshold": 5}}}
    from_mapping = load_policies(override, default={"circuit_breaker": {}})["x"]
    from_object = load_policies(
        override, default=ResilienceConfig(circuit_breaker=CircuitBreakerConfig())
    )["x"]
    assert from_mapping.circuit_breaker is not None
    assert from_object.circuit_breaker is not None
    assert from_mapping.circuit_breaker.probe_limit == 5
    assert from_object.circuit_breaker.probe_limit == 5

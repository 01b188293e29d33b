"""init_app, config loading, per-app registries and lookup errors."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from werkzeug.exceptions import HTTPException

from pyresilience import (
    CircuitState,
    ConfigError,
    ResilienceConfig,
    ResilienceRegistry,
    RetryConfig,
    UnknownPolicyError,
)
from pyresilience.stores import MemoryStore
from pyresilience_flask import EXTENSION_KEY, ConfigKeys, Resilience

MakeApp = Callable[..., Flask]

PAYMENT = {
    "payment-api": {
        "retry": {"max_attempts": 3, "delay": 0},
        "circuit_breaker": {"failure_threshold": 5},
    }
}


def fail() -> None:
    raise ConnectionError("upstream down")


def test_init_app_puts_a_registry_in_app_extensions(make_app: MakeApp) -> None:
    """init_app stores a registry under app.extensions["pyresilience"]."""
    app = make_app(RESILIENCE_POLICIES=PAYMENT)

    registry = app.extensions[EXTENSION_KEY]

    assert isinstance(registry, ResilienceRegistry)
    assert registry.names == ["payment-api"]
    assert registry.is_open


def test_constructor_with_an_app_initialises_it() -> None:
    """Resilience(app) is the same as Resilience().init_app(app)."""
    app = Flask("direct")
    app.config[ConfigKeys.POLICIES] = PAYMENT

    resilience = Resilience(app)

    assert resilience.get_registry(app).names == ["payment-api"]
    app.extensions[EXTENSION_KEY].shutdown(timeout=1.0)


def test_policies_are_loaded_with_their_fields(make_app: MakeApp) -> None:
    """Each RESILIENCE_POLICIES entry becomes a config with the given fields."""
    app = make_app(RESILIENCE_POLICIES=PAYMENT)

    config = app.extensions[EXTENSION_KEY].get("payment-api")

    assert config.retry.max_attempts == 3
    assert config.circuit_breaker.failure_threshold == 5


def test_default_is_inherited_and_used_for_unknown_names(make_app: MakeApp) -> None:
    """RESILIENCE_DEFAULT fills in every policy and serves unregistered names."""
    app = make_app(
        RESILIENCE_DEFAULT={"timeout": {"seconds": 7}},
        RESILIENCE_POLICIES=PAYMENT,
    )
    registry = app.extensions[EXTENSION_KEY]

    assert registry.get("payment-api").timeout.seconds == 7
    assert registry.get_or_default("elsewhere").timeout.seconds == 7


def test_unknown_name_without_default_lists_the_known_ones(
    make_app: MakeApp, resilience: Resilience
) -> None:
    """Calling an unregistered name with no default names what is registered."""
    app = make_app(RESILIENCE_POLICIES=PAYMENT)

    with app.app_context(), pytest.raises(UnknownPolicyError) as info:
        resilience.call("nope", lambda: 1)

    assert "nope" in str(info.value)
    assert "payment-api" in str(info.value)


def test_bad_policy_value_fails_at_init_app_naming_the_path(
    make_app: MakeApp,
) -> None:
    """A bad policy field raises ConfigError naming key path, value and rule."""
    policies = {"payment-api": {"retry": {"max_attempts": 0}}}

    with pytest.raises(ConfigError) as info:
        make_app(RESILIENCE_POLICIES=policies)

    message = str(info.value)
    path = 'app.config["RESILIENCE_POLICIES"]["payment-api"]["retry"]["max_attempts"]'
    assert message.startswith(path)
    assert "0" in message
    assert ">= 1" in message


def test_bad_default_fails_at_init_app_naming_the_path(make_app: MakeApp) -> None:
    """A bad RESILIENCE_DEFAULT is reported under its own key."""
    with pytest.raises(ConfigError) as info:
        make_app(RESILIENCE_DEFAULT={"timeout": {"seconds": -1}})

    assert str(info.value).startswith('app.config["RESILIENCE_DEFAULT"]')
    assert "-1" in str(info.value)


def test_bad_store_fails_at_init_app_naming_the_key(make_app: MakeApp) -> None:
    """An unusable RESILIENCE_STORE is reported under its key, with the value."""
    with pytest.raises(ConfigError) as info:
        make_app(RESILIENCE_STORE="carrier-pigeon://roof")

    assert str(info.value).startswith('app.config["RESILIENCE_STORE"]')
    assert "carrier-pigeon" in str(info.value)


@pytest.mark.parametrize("value", ["no", 0, None])
def test_http_errors_must_be_a_bool(make_app: MakeApp, value: object) -> None:
    """RESILIENCE_HTTP_ERRORS accepts only True or False, and says so."""
    with pytest.raises(ConfigError) as info:
        make_app(RESILIENCE_HTTP_ERRORS=value)

    message = str(info.value)
    assert message.startswith('app.config["RESILIENCE_HTTP_ERRORS"]')
    assert "True or False" in message
    assert repr(value) in message


def test_clock_must_be_a_clock(make_app: MakeApp) -> None:
    """RESILIENCE_CLOCK rejects objects that are not clocks."""
    with pytest.raises(ConfigError, match=r'RESILIENCE_CLOCK"\]: must be None'):
        make_app(RESILIENCE_CLOCK=42)


def test_store_is_built_from_config(make_app: MakeApp) -> None:
    """RESILIENCE_STORE is handed to the core loader (memory:// here)."""
    app = make_app(RESILIENCE_STORE="memory://")

    assert isinstance(app.extensions[EXTENSION_KEY].store, MemoryStore)


def test_init_app_twice_on_one_app_is_refused(
    make_app: MakeApp, resilience: Resilience
) -> None:
    """A second init_app on the same app raises instead of replacing state."""
    app = make_app()

    with pytest.raises(RuntimeError, match="already initialised"):
        resilience.init_app(app)


def test_one_extension_serves_apps_with_separate_state(
    make_app: MakeApp, resilience: Resilience
) -> None:
    """Two apps from one Resilience object never share a breaker."""
    policies = {"dep": {"circuit_breaker": {"failure_threshold": 1}}}
    first = make_app("first", RESILIENCE_POLICIES=policies)
    second = make_app("second", RESILIENCE_POLICIES=policies)

    with first.app_context(), pytest.raises(ConnectionError):
        resilience.call("dep", fail)

    assert _state(first, "dep") is CircuitState.OPEN
    assert _state(second, "dep") is CircuitState.CLOSED


def test_call_outside_an_app_context_says_so(resilience: Resilience) -> None:
    """Without an application context the error explains what is missing."""
    with pytest.raises(RuntimeError, match="no Flask application context"):
        resilience.call("dep", lambda: 1)


def test_call_on_an_app_without_init_app_says_so(resilience: Resilience) -> None:
    """An app that never ran init_app gets an error naming the app and fix."""
    app = Flask("bare")

    with app.app_context(), pytest.raises(RuntimeError) as info:
        resilience.call("dep", lambda: 1)

    assert "'bare' has no pyresilience registry" in str(info.value)
    assert "init_app" in str(info.value)


def test_get_registry_takes_an_explicit_app(
    make_app: MakeApp, resilience: Resilience
) -> None:
    """get_registry(app) works without an application context."""
    app = make_app(RESILIENCE_POLICIES=PAYMENT)

    assert resilience.get_registry(app) is app.extensions[EXTENSION_KEY]


def test_registered_configs_ignore_http_errors_without_mutating_the_user_config(
    make_app: MakeApp,
) -> None:
    """A ResilienceConfig given in config is copied, not changed, to pass aborts."""
    mine = ResilienceConfig(retry=RetryConfig(max_attempts=2, delay=0))
    app = make_app(RESILIENCE_POLICIES={"dep": mine})

    registered = app.extensions[EXTENSION_KEY].get("dep")

    assert HTTPException in registered.retry.ignore_on
    assert mine.retry is not None
    assert mine.retry.ignore_on == ()


def _state(app: Flask, name: str) -> CircuitState:
    breaker = app.extensions[EXTENSION_KEY].policy(name).status().breaker
    assert breaker is not None
    return breaker.state


def test_policies_that_are_not_a_mapping_are_reported(make_app: MakeApp) -> None:
    """RESILIENCE_POLICIES of the wrong shape names the key and the value."""
    with pytest.raises(ConfigError) as info:
        make_app(RESILIENCE_POLICIES=["payment-api"])

    assert str(info.value).startswith('app.config["RESILIENCE_POLICIES"]')
    assert "['payment-api']" in str(info.value)


def test_public_surface_is_explicit() -> None:
    """__all__ is sorted, complete, and objects report the public module."""
    import pyresilience_flask

    assert pyresilience_flask.__all__ == sorted(pyresilience_flask.__all__)
    for name in pyresilience_flask.__all__:
        assert hasattr(pyresilience_flask, name)
    assert Resilience.__module__ == "pyresilience_flask"
    assert ConfigKeys.POLICIES == "RESILIENCE_POLICIES"


def test_misspelt_resilience_key_fails_at_init_app(make_app: MakeApp) -> None:
    """An unknown RESILIENCE_* key is named, with the allowed ones."""
    with pytest.raises(ConfigError) as caught:
        make_app(RESILIENCE_POLICY=PAYMENT)
    message = str(caught.value)
    assert message.startswith('app.config["RESILIENCE_POLICY"]: ')
    assert "RESILIENCE_POLICIES" in message

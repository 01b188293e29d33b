"""The registry the app config builds from settings.RESILIENCE."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.test import override_settings

from pyresilience import CircuitState, ConfigError, MemoryStore, UnknownPolicyError
from pyresilience_django import get_registry, resilient
from pyresilience_django.conf import conf

BREAKER = {"POLICIES": {"payment-api": {"circuit_breaker": {"failure_threshold": 1}}}}


def test_ready_builds_the_registry_from_settings() -> None:
    """After django.setup() the registry holds the policies of the settings."""
    registry = get_registry()

    assert registry.names == ["base"]
    assert registry.get("base").retry.max_attempts == 2


def test_a_second_ready_changes_nothing() -> None:
    """Calling ready() again keeps the same registry object and its state."""
    before = get_registry()

    apps.get_app_config("pyresilience_django").ready()

    assert get_registry() is before


def test_get_registry_returns_the_same_object_every_time() -> None:
    """get_registry() is stable until the setting changes."""
    assert get_registry() is get_registry()


def test_override_settings_rebuilds_and_restores() -> None:
    """override_settings(RESILIENCE=...) swaps the registry, then restores it."""
    original = get_registry()

    with override_settings(RESILIENCE=BREAKER):
        inside = get_registry()
        assert inside is not original
        assert inside.names == ["payment-api"]

    assert get_registry() is original
    assert original.names == ["base"]


def test_restored_registry_keeps_its_state() -> None:
    """A breaker opened before an override is still open after it ends."""
    with override_settings(RESILIENCE=BREAKER):
        registry = get_registry()
        with pytest.raises(RuntimeError):
            resilient("payment-api")(_boom)()
        with override_settings(RESILIENCE={"POLICIES": {}}):
            assert get_registry().names == []
        assert get_registry() is registry
        assert registry.status()["payment-api"].breaker.state is CircuitState.OPEN


def test_other_settings_do_not_rebuild() -> None:
    """Changing an unrelated setting keeps the registry."""
    before = get_registry()

    with override_settings(USE_TZ=False):
        assert get_registry() is before


def test_default_applies_to_unlisted_names() -> None:
    """A name missing from POLICIES runs under DEFAULT."""
    calls = []

    @resilient("anything")
    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("not yet")
        return "done"

    setting = {"DEFAULT": {"retry": {"max_attempts": 3, "delay": 0, "jitter": False}}}
    with override_settings(RESILIENCE=setting):
        assert flaky() == "done"

    assert len(calls) == 3


def test_unknown_name_without_default_names_the_known_ones() -> None:
    """Calling an unconfigured name with no DEFAULT lists the configured names."""
    with override_settings(RESILIENCE=BREAKER):
        with pytest.raises(UnknownPolicyError, match="'payment-api'"):
            resilient("nope")(_boom)()


def test_missing_setting_means_no_policies() -> None:
    """Without RESILIENCE at all the registry is empty and HTTP_ERRORS is on."""
    with override_settings():
        from django.conf import settings

        del settings.RESILIENCE
        assert conf.RESILIENCE == {}
        assert conf.HTTP_ERRORS is True


def test_broken_policy_fails_calls_and_spares_the_rest() -> None:
    """A call through a broken policy raises its ConfigError; others still work."""
    setting = {
        "POLICIES": {
            "broken": {"retry": {"max_attempts": 0}},
            "fine": {"retry": {"max_attempts": 1}},
        }
    }
    with override_settings(RESILIENCE=setting):
        assert get_registry().names == ["fine"]
        assert resilient("fine")(lambda: 7)() == 7
        with pytest.raises(ConfigError) as caught:
            resilient("broken")(lambda: 7)()

    assert (
        caught.value.path == 'RESILIENCE["POLICIES"]["broken"]["retry"]["max_attempts"]'
    )
    assert "got 0" in str(caught.value)


def test_bad_top_level_fails_every_call() -> None:
    """When RESILIENCE itself is unusable, every call raises its error."""
    with override_settings(RESILIENCE=["not", "a", "dict"]):
        with pytest.raises(ConfigError, match="RESILIENCE: must be a dict"):
            resilient("anything")(lambda: 1)()


def test_bad_store_fails_every_call() -> None:
    """A STORE that cannot be used breaks every policy, not just one."""
    setting = {"STORE": "mysql://nope", "POLICIES": {"fine": {}}}
    with override_settings(RESILIENCE=setting):
        with pytest.raises(ConfigError, match=r'RESILIENCE\["STORE"\]'):
            resilient("fine")(lambda: 1)()


def _boom() -> None:
    raise RuntimeError("boom")


def test_extends_chains_inherit_through_every_level() -> None:
    """A policy extending one that extends another inherits from both."""
    setting = {
        "POLICIES": {
            "root": {"retry": {"max_attempts": 5}},
            "middle": {"extends": "root", "timeout": {"seconds": 2}},
            "leaf": {"extends": "middle"},
        }
    }
    with override_settings(RESILIENCE=setting):
        leaf = get_registry().get("leaf")

    assert leaf.retry.max_attempts == 5
    assert leaf.timeout.seconds == 2


def test_use_clock_rebuilds_and_restores() -> None:
    """use_clock swaps in a registry on the given clock, then restores the old one."""
    from pyresilience.testing import FakeClock
    from pyresilience_django.testing import use_clock

    before = get_registry()
    fake = FakeClock()

    with use_clock(fake) as clock:
        assert clock is fake
        assert get_registry() is not before
        assert get_registry().clock is fake

    assert get_registry() is before


def test_public_names() -> None:
    """The package exports exactly its documented names, under its own path."""
    import pyresilience_django

    assert pyresilience_django.__all__ == [
        "WorkerDatabaseError",
        "get_registry",
        "resilient",
    ]
    assert pyresilience_django.get_registry.__module__ == "pyresilience_django"
    assert pyresilience_django.WorkerDatabaseError.__module__ == "pyresilience_django"


class ClosingStore(MemoryStore):
    """An in-memory store that remembers whether it was closed."""

    closed = False

    def close(self) -> None:
        self.closed = True


def test_ended_override_registry_is_shut_down() -> None:
    """The registry of an ended override refuses calls and closes its store."""
    store = ClosingStore()
    with override_settings(RESILIENCE={"STORE": store}):
        inside = get_registry()

    assert not inside.is_open
    assert store.closed


def test_store_object_shared_with_the_restored_registry_stays_open() -> None:
    """A StateStore object in both settings is not closed by the inner override."""
    store = ClosingStore()
    with override_settings(RESILIENCE={"STORE": store}):
        outer = get_registry()
        with override_settings(RESILIENCE={"STORE": store, "POLICIES": {"p": {}}}):
            pass
        assert get_registry() is outer
        assert not store.closed
        assert outer.is_open

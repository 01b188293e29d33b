"""System checks: every bad setting is reported with a stable id and a hint."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from pyresilience import ConfigError
from pyresilience_django import resilient

MIDDLEWARE = ["pyresilience_django.middleware.ResilienceMiddleware"]


def run(setting: Any, **other: Any) -> list[checks.CheckMessage]:
    with override_settings(RESILIENCE=setting, **other):
        return checks.run_checks(tags=["pyresilience"])


def ids(messages: list[checks.CheckMessage]) -> list[str]:
    return [message.id for message in messages]


def test_a_good_setting_passes() -> None:
    """A valid setting with the middleware installed yields no message."""
    setting = {
        "DEFAULT": {"timeout": {"seconds": 10}},
        "POLICIES": {
            "payment-api": {
                "retry": {"max_attempts": 3},
                "circuit_breaker": {"failure_threshold": 5, "recovery_timeout": "30s"},
            },
            "slow-api": {"extends": "payment-api", "timeout": {"seconds": "2s"}},
        },
        "STORE": None,
        "HTTP_ERRORS": True,
    }

    assert run(setting) == []


def test_not_a_dict_is_e001() -> None:
    """RESILIENCE must be a dict."""
    messages = run("redis://")

    assert ids(messages) == ["pyresilience.E001"]
    assert "'redis://'" in messages[0].msg
    assert messages[0].hint


def test_unknown_key_is_e002_with_a_suggestion() -> None:
    """A misspelt key is reported and the right spelling suggested."""
    messages = run({"POLICY": {}})

    assert ids(messages) == ["pyresilience.E002"]
    assert "'POLICY'" in messages[0].msg
    assert "Did you mean 'POLICIES'?" in messages[0].hint


def test_lower_case_keys_are_e002() -> None:
    """Settings keys are upper case, as everywhere in Django settings."""
    messages = run({"policies": {}})

    assert ids(messages) == ["pyresilience.E002"]
    assert "'POLICIES'" in messages[0].hint


def test_http_errors_must_be_a_bool_e003() -> None:
    """HTTP_ERRORS accepts only True or False."""
    messages = run({"HTTP_ERRORS": "no"})

    assert ids(messages) == ["pyresilience.E003"]
    assert "'no'" in messages[0].msg


def test_bad_store_is_e004() -> None:
    """A STORE that is not a known store URL is reported with what is allowed."""
    messages = run({"STORE": "mysql://db"})

    assert ids(messages) == ["pyresilience.E004"]
    assert messages[0].msg.startswith('RESILIENCE["STORE"]: ')
    assert "redis://" in messages[0].msg
    assert "'mysql://db'" in messages[0].msg


def test_bad_default_is_e005_for_each_bad_section() -> None:
    """Every bad section of DEFAULT is reported, not only the first."""
    setting = {"DEFAULT": {"retry": {"max_attempts": 0}, "timeout": {"seconds": -1}}}

    messages = run(setting)

    assert ids(messages) == ["pyresilience.E005", "pyresilience.E005"]
    assert "max_attempts" in messages[0].msg
    assert "got 0" in messages[0].msg
    assert "seconds" in messages[1].msg


def test_policies_not_a_dict_is_e006() -> None:
    """POLICIES must map names to policies."""
    messages = run({"POLICIES": ["payment-api"]})

    assert ids(messages) == ["pyresilience.E006"]
    assert messages[0].msg.startswith('RESILIENCE["POLICIES"]: ')


def test_every_bad_value_of_every_policy_is_e007() -> None:
    """Errors in several sections and several policies are all reported."""
    setting = {
        "POLICIES": {
            "a": {"retry": {"max_attempts": 0}, "bulkhead": {"max_concurrent": 0}},
            "b": {"rate_limiter": {"period": "soon"}},
            "c": {"retry": {"max_attempts": 2}},
        }
    }

    messages = run(setting)

    assert ids(messages) == ["pyresilience.E007"] * 3
    text = [message.msg for message in messages]
    assert text[0].startswith('RESILIENCE["POLICIES"]["a"]')
    assert "max_attempts" in text[0] and "got 0" in text[0]
    assert "max_concurrent" in text[1]
    assert text[2].startswith('RESILIENCE["POLICIES"]["b"]')
    assert "'soon'" in text[2]


def test_message_names_the_full_key_path() -> None:
    """The message starts with the exact path of the bad value."""
    messages = run({"POLICIES": {"payment-api": {"retry": {"max_attempts": 0}}}})

    expected = 'RESILIENCE["POLICIES"]["payment-api"]["retry"]["max_attempts"]: '
    assert messages[0].msg.startswith(expected)


def test_unknown_section_lists_the_allowed_ones() -> None:
    """A misspelt section name is reported with the allowed sections."""
    messages = run({"POLICIES": {"p": {"retyr": {"max_attempts": 3}}}})

    assert ids(messages) == ["pyresilience.E007"]
    assert "'retyr'" in messages[0].msg
    assert "retry" in messages[0].msg


def test_extends_unknown_policy_lists_the_known_ones() -> None:
    """ "extends" naming a missing policy is reported with every policy name."""
    messages = run({"POLICIES": {"a": {}, "b": {"extends": "c"}}})

    assert ids(messages) == ["pyresilience.E007"]
    assert messages[0].msg.startswith('RESILIENCE["POLICIES"]["b"]["extends"]')
    assert "'a', 'b'" in messages[0].msg


def test_extending_a_broken_policy_is_reported_once() -> None:
    """The base's error is reported once, and the hint names its dependents."""
    setting = {
        "POLICIES": {
            "base": {"retry": {"max_attempts": 0}},
            "child": {"extends": "base", "timeout": {"seconds": 1}},
        }
    }

    messages = run(setting)

    assert ids(messages) == ["pyresilience.E007"]
    assert "child" in messages[0].hint


def test_extends_cycle_is_reported() -> None:
    """Policies extending each other in a loop are an error, not a hang."""
    messages = run({"POLICIES": {"a": {"extends": "b"}, "b": {"extends": "a"}}})

    assert "pyresilience.E007" in ids(messages)
    assert "cycle" in messages[0].msg


def test_relations_across_default_and_policy_are_checked() -> None:
    """A value valid alone but invalid once merged with DEFAULT is reported."""
    setting = {
        "DEFAULT": {"retry": {"delay": 5}},
        "POLICIES": {"p": {"retry": {"max_delay": 1}}},
    }

    messages = run(setting)

    assert ids(messages) == ["pyresilience.E007"]
    assert "max_delay" in messages[0].msg


def test_suspicious_combination_is_w002() -> None:
    """A legal but self-defeating combination becomes a check warning."""
    setting = {
        "POLICIES": {
            "p": {
                "retry": {"max_attempts": 5, "delay": 10, "jitter": False},
                "timeout": {"seconds": 1, "per_attempt": False},
            }
        }
    }

    messages = run(setting)

    assert ids(messages) == ["pyresilience.W002"]
    assert messages[0].level == checks.WARNING


def test_missing_middleware_is_w001() -> None:
    """Without ResilienceMiddleware rejections would become 500s: a warning."""
    messages = run({}, MIDDLEWARE=[])

    assert ids(messages) == ["pyresilience.W001"]
    assert "MIDDLEWARE" in messages[0].hint


def test_missing_middleware_is_fine_with_http_errors_off() -> None:
    """HTTP_ERRORS False means the project maps errors itself: no warning."""
    assert run({"HTTP_ERRORS": False}, MIDDLEWARE=[]) == []


def test_manage_py_check_fails_on_bad_settings() -> None:
    """The check command stops with every error listed."""
    setting = {"POLICIES": {"a": {"retry": {"max_attempts": 0}}}, "STORE": 3}

    with override_settings(RESILIENCE=setting):
        with pytest.raises(SystemCheckError) as caught:
            call_command("check")

    assert "pyresilience.E004" in str(caught.value)
    assert "pyresilience.E007" in str(caught.value)


def test_calls_fail_with_the_message_check_reports() -> None:
    """A call through a broken policy raises exactly a reported message."""
    setting = {
        "POLICIES": {"payment-api": {"circuit_breaker": {"failure_threshold": -1}}}
    }

    messages = run(setting)
    with override_settings(RESILIENCE=setting):
        with pytest.raises(ConfigError) as caught:
            resilient("payment-api")(lambda: None)()

    assert str(caught.value) in [message.msg for message in messages]


def test_dependent_calls_fail_with_the_base_message() -> None:
    """A policy extending a broken one fails with the base's reported error."""
    setting = {
        "POLICIES": {
            "base": {"retry": {"max_attempts": 0}},
            "child": {"extends": "base"},
        }
    }

    messages = run(setting)
    with override_settings(RESILIENCE=setting):
        with pytest.raises(ConfigError) as caught:
            resilient("child")(lambda: None)()

    assert str(caught.value) == messages[0].msg


def test_app_loading_survives_bad_settings(tmp_path: Path) -> None:
    """django.setup() with a broken RESILIENCE loads, logs, and check reports it."""
    (tmp_path / "bad_settings.py").write_text(
        "SECRET_KEY = 'x'\n"
        "INSTALLED_APPS = ['pyresilience_django']\n"
        f"MIDDLEWARE = {MIDDLEWARE!r}\n"
        "RESILIENCE = {'POLICIES': {'p': {'retry': {'max_attempts': 0}}}}\n"
    )
    script = (
        "import django, sys\n"
        "django.setup()\n"
        "from pyresilience_django import get_registry\n"
        "print('loaded', get_registry().names)\n"
        "from django.core.management import call_command\n"
        "call_command('check')\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={"DJANGO_SETTINGS_MODULE": "bad_settings", "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert "loaded []" in result.stdout
    assert "pyresilience_django.bad_setting" in result.stderr
    assert "pyresilience.E007" in result.stderr
    assert result.returncode == 1

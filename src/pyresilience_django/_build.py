"""Turn ``settings.RESILIENCE`` into a registry plus a list of problems.

The system checks and the app's runtime both use :func:`build`, so a call
through a broken policy fails with exactly a message ``manage.py check``
reports. Nothing here raises for a bad setting: every problem is collected,
the broken parts are left out of the registry, and the rest keeps working.
"""

from __future__ import annotations

import difflib
import json
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pyresilience import (
    Clock,
    ConfigError,
    Policy,
    ResilienceConfig,
    ResilienceRegistry,
)
from pyresilience.config import load_config, load_policies, load_store

from ._answers import pass_answers
from .conf import KEYS, SETTING

__all__ = ["Build", "Problem", "build", "key_path"]

_DOCS = "See the pyresilience README, section Django, for the RESILIENCE setting."

T = TypeVar("T")


@dataclass(frozen=True)
class Problem:
    """One bad (or suspicious) setting, ready to become a system check."""

    id: str
    message: str
    hint: str
    level: str = "error"


@dataclass(frozen=True)
class Build:
    """What one reading of the setting produced.

    Attributes:
        registry: Holds every policy that loaded; broken ones are left out.
        fatal: Set when the whole setting is unusable (bad top level, bad
            ``DEFAULT`` or ``STORE``): every call fails with it.
        broken: Policy name to the error every call through it raises.
        problems: Everything ``manage.py check`` reports, in setting order.
    """

    registry: ResilienceRegistry
    fatal: ConfigError | None = None
    broken: Mapping[str, ConfigError] = field(default_factory=dict)
    problems: tuple[Problem, ...] = ()
    #: Policy handles by name, filled on first use. A handle resolves its
    #: config on every call, so it stays valid when the registry changes.
    handles: dict[str, Policy] = field(default_factory=dict, compare=False)

    def error_for(self, name: str) -> ConfigError | None:
        """Return the error a call through policy ``name`` must raise, if any."""
        return self.fatal or self.broken.get(name)


def key_path(*keys: str) -> str:
    """Return the path of a key below the setting, e.g. ``RESILIENCE["STORE"]``."""
    # json.dumps quotes exactly as the core's loader does in its own paths.
    return SETTING + "".join(f"[{json.dumps(key)}]" for key in keys)


def build(raw: Any, *, clock: Clock | None = None) -> Build:
    """Read the raw setting; never raises for a bad value.

    Args:
        raw: The value of ``settings.RESILIENCE``.
        clock: Time source for the registry (tests inject a fake one).
    """
    if not isinstance(raw, Mapping):
        error = ConfigError(
            f"must be a dict with the keys {', '.join(KEYS)}, got {raw!r} "
            f"({type(raw).__name__})",
            path=SETTING,
        )
        hint = 'e.g. RESILIENCE = {"POLICIES": {"payment-api": {"retry": {}}}}'
        problem = Problem("pyresilience.E001", str(error), f"{hint}. {_DOCS}")
        return Build(ResilienceRegistry(clock=clock), fatal=error, problems=(problem,))

    return _Reader(raw, clock).read()


class _Reader:
    """Collects problems while loading each part of the setting."""

    def __init__(self, raw: Mapping[Any, Any], clock: Clock | None) -> None:
        self.raw = raw
        self.clock = clock
        self.problems: list[Problem] = []
        self.fatal: ConfigError | None = None

    def read(self) -> Build:
        self._check_keys()
        self._check_http_errors()
        store = self._load_store()
        default = self._load_default()
        policies = self._policies_mapping()
        configs, broken = _PolicyReader(self, policies).read()
        if self.fatal is not None:
            registry = ResilienceRegistry(clock=self.clock)
        else:
            registry = ResilienceRegistry(
                store=store,
                clock=self.clock,
                default=None if default is None else pass_answers(default),
            )
            for name, config in configs.items():
                registry.register(name, pass_answers(config))
        return Build(registry, self.fatal, broken, tuple(self.problems))

    def add(self, check_id: str, message: str, hint: str) -> None:
        self.problems.append(Problem(check_id, message, hint))

    def add_error(self, check_id: str, error: ConfigError, hint: str) -> None:
        messages = {problem.message for problem in self.problems}
        if str(error) not in messages:
            self.add(check_id, str(error), hint)

    def fail(self, check_id: str, error: ConfigError, hint: str) -> None:
        self.add_error(check_id, error, hint)
        if self.fatal is None:
            self.fatal = error

    def _check_keys(self) -> None:
        for key in self.raw:
            if key in KEYS:
                continue
            close = difflib.get_close_matches(str(key).upper(), KEYS, n=1)
            hint = f"Allowed keys: {', '.join(KEYS)}."
            if close:
                hint = f"Did you mean {close[0]!r}? {hint}"
            self.add(
                "pyresilience.E002",
                f"{SETTING}: unknown key {key!r}; it is ignored",
                hint,
            )

    def _check_http_errors(self) -> None:
        value = self.raw.get("HTTP_ERRORS", True)
        if not isinstance(value, bool):
            self.add(
                "pyresilience.E003",
                f"{key_path('HTTP_ERRORS')}: must be True or False, got {value!r}",
                "True lets ResilienceMiddleware answer resilience errors with "
                "503, 429 and 504 responses; False leaves them to Django (500).",
            )

    def _load_store(self) -> Any:
        try:
            return load_store(self.raw.get("STORE"), path=key_path("STORE"))
        except ConfigError as error:
            hint = (
                "Leave STORE out for in-process state, or give a URL such as "
                '"redis://127.0.0.1:6379/0" (needs the redis extra).'
            )
            self.fail("pyresilience.E004", error, hint)
            return None

    def _load_default(self) -> ResilienceConfig | None:
        raw = self.raw.get("DEFAULT")
        if raw is None:
            return None
        hint = (
            "DEFAULT is a policy every policy inherits, e.g. "
            '{"timeout": {"seconds": 10}}. ' + _DOCS
        )
        errors = _section_errors(raw, key_path("DEFAULT"))
        for error in errors:
            self.fail("pyresilience.E005", error, hint)
        if errors:
            return None
        try:
            return _quietly(load_config, raw, path=key_path("DEFAULT"), reader=self)
        except ConfigError as error:
            self.fail("pyresilience.E005", error, hint)
            return None

    def _policies_mapping(self) -> dict[str, Any]:
        raw = self.raw.get("POLICIES", {})
        hint = (
            "POLICIES maps policy names to policies, e.g. "
            '{"payment-api": {"retry": {"max_attempts": 3}}}. ' + _DOCS
        )
        if raw is None:
            return {}
        if not isinstance(raw, Mapping):
            error = ConfigError(
                f"must be a dict of policy name to policy, got {raw!r} "
                f"({type(raw).__name__})",
                path=key_path("POLICIES"),
            )
            self.fail("pyresilience.E006", error, hint)
            return {}
        policies = {}
        for name, value in raw.items():
            if isinstance(name, str) and name.strip():
                policies[name] = value
                continue
            error = ConfigError(
                f"policy names must be non-empty strings, got {name!r}",
                path=key_path("POLICIES"),
            )
            self.add_error("pyresilience.E006", error, hint)
        return policies


class _PolicyReader:
    """Loads each policy with the policies it extends, apart from the rest.

    A policy is broken when one of its own sections is bad or when loading
    it (with ``DEFAULT`` and its ``extends`` chain) fails; a policy that
    extends a broken one is broken with the same error.
    """

    def __init__(self, owner: _Reader, policies: dict[str, Any]) -> None:
        self.owner = owner
        self.policies = policies
        self.default = owner.raw.get("DEFAULT") if owner.fatal is None else None
        self.configs: dict[str, ResilienceConfig] = {}
        self.broken: dict[str, ConfigError] = {}
        self.errors: list[tuple[str, ConfigError]] = []
        self._visiting: set[str] = set()

    def read(self) -> tuple[dict[str, ResilienceConfig], dict[str, ConfigError]]:
        for name in self.policies:
            self._resolve(name)
        for name, error in self.errors:
            self.owner.add_error("pyresilience.E007", error, self._hint(name, error))
        return self.configs, self.broken

    def _hint(self, name: str, error: ConfigError) -> str:
        hint = (
            "A policy maps sections (retry, timeout, circuit_breaker, fallback, "
            "bulkhead, rate_limiter, cache, retry_budget) to their fields; "
            '"extends" names a policy to inherit from. ' + _DOCS
        )
        users = sorted(
            other
            for other, used in self.broken.items()
            if other != name and used is error
        )
        if users:
            hint += f" Policies extending it are unusable too: {', '.join(users)}."
        return hint

    def _resolve(self, name: str) -> ConfigError | None:
        if name in self.configs:
            return None
        if name in self.broken:
            return self.broken[name]
        self._visiting.add(name)
        try:
            error = self._load(name)
        finally:
            self._visiting.discard(name)
        if error is not None:
            self.broken[name] = error
        return error

    def _load(self, name: str) -> ConfigError | None:
        raw = self.policies[name]
        errors = _section_errors(raw, key_path("POLICIES", name))
        self.errors.extend((name, error) for error in errors)
        if errors:
            return errors[0]

        base = raw.get("extends")
        if base is not None and (
            not isinstance(base, str) or base not in self.policies
        ):
            known = ", ".join(repr(other) for other in self.policies)
            error = ConfigError(
                f"extends unknown policy {base!r}; known: {known}",
                path=key_path("POLICIES", name, "extends"),
            )
            self.errors.append((name, error))
            return error
        cycle = self._cycle(name)
        if cycle:
            error = ConfigError(
                f"policies extend each other in a cycle: {' -> '.join(cycle)}",
                path=key_path("POLICIES", name, "extends"),
            )
            self.errors.append((name, error))
            for member in cycle:
                self.broken.setdefault(member, error)
            return error
        if base is not None and base not in self._visiting:
            base_error = self._resolve(base)
            if base_error is not None:
                return base_error

        try:
            configs = _quietly(
                load_policies,
                {key: self.policies[key] for key in self._chain(name)},
                path=key_path("POLICIES"),
                default=self.default,
                reader=self.owner,
            )
        except ConfigError as error:
            self.errors.append((name, error))
            return error
        self.configs[name] = configs[name]
        return None

    def _cycle(self, name: str) -> list[str] | None:
        """The loop of ``extends`` from ``name`` back to it, if there is one."""
        chain = self._chain(name)
        last = self.policies[chain[-1]]
        if isinstance(last, Mapping) and last.get("extends") == name:
            return [*chain, name]
        return None

    def _chain(self, name: str) -> list[str]:
        """``name`` and the policies it extends, stopping at a loop."""
        chain = [name]
        raw = self.policies[name]
        while isinstance(raw, Mapping):
            base = raw.get("extends")
            if not isinstance(base, str) or base not in self.policies:
                break
            if base in chain:
                break
            chain.append(base)
            raw = self.policies[base]
        return chain


def _section_errors(raw: Any, path: str) -> list[ConfigError]:
    """Load each section of one policy mapping on its own; return the errors.

    Loading sections one at a time reports every bad section, where loading
    the whole policy would stop at the first.
    """
    if not isinstance(raw, Mapping):
        return [
            ConfigError(
                f"must be a dict of section name to settings, got {raw!r} "
                f"({type(raw).__name__})",
                path=path,
            )
        ]
    errors = []
    for key, value in raw.items():
        if key == "extends":
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                load_config({key: value}, path=path)
        except ConfigError as error:
            errors.append(error)
    return errors


def _quietly(loader: Callable[..., T], *args: Any, reader: _Reader, **kwargs: Any) -> T:
    """Call a loader, turning its warnings into ``pyresilience.W002`` entries.

    The config classes warn about legal but suspicious combinations; a
    setting has no user line for such a warning to point at, so it becomes
    a check warning instead.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = loader(*args, **kwargs)
    seen = {problem.message for problem in reader.problems}
    for warning in caught:
        message = f"{SETTING}: {warning.message}"
        if message not in seen:
            seen.add(message)
            reader.problems.append(
                Problem(
                    "pyresilience.W002",
                    message,
                    "Legal, but probably not what you meant. " + _DOCS,
                    level="warning",
                )
            )
    return result

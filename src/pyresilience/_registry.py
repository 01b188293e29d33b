"""Named policies whose state is shared by every function using the name."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar, cast

from ._cache import ResultCache
from ._callables import check_fallback_fits
from ._clock import SYSTEM_CLOCK, Clock
from ._config import ResilienceConfig
from ._decorator import wrap
from ._engine import PolicyRuntime
from ._exceptions import UnknownPolicyError
from ._gate import Gate
from ._guard import AsyncGuard, Guard
from ._state import PolicyStatus
from ._store import MemoryStore, StateStore

__all__ = ["Policy", "PolicyStatus", "ResilienceRegistry", "live_registries"]

F = TypeVar("F", bound=Callable[..., Any])

_registries: weakref.WeakSet[ResilienceRegistry] = weakref.WeakSet()


def live_registries() -> list[ResilienceRegistry]:
    """Every registry that still exists in this process."""
    return list(_registries)


class ResilienceRegistry:
    """Policies by name; every user of a name shares its live state.

    Functions decorated with one name, sync and async alike, share that
    name's circuit breaker, rate-limit permits, bulkhead slots and retry
    budget (one dependency, one breaker). Decoration is lazy: a function may
    be decorated before its name is registered, and re-registering a name
    takes effect from the next call. State whose config did not change
    survives a re-registration.

    Args:
        store: Where shared state lives (default: this process's memory).
        clock: Time source for every policy (inject ``FakeClock`` in tests).
        default: Config used for names that were never registered.
    """

    def __init__(
        self,
        *,
        store: StateStore | None = None,
        clock: Clock | None = None,
        default: ResilienceConfig | None = None,
    ) -> None:
        if store is not None and not isinstance(store, StateStore):
            raise TypeError(f"store must be a StateStore, got {store!r}")
        self._store: StateStore = store if store is not None else MemoryStore()
        self._clock = clock or SYSTEM_CLOCK
        self._configs: dict[str, ResilienceConfig] = {}
        self._default: ResilienceConfig | None = None
        self._runtimes: dict[str, PolicyRuntime] = {}
        self._lock = threading.RLock()
        self._version = 0
        self._gate = Gate(tracking=True)
        # The last runtime built per name, so a rebuild can keep live state.
        self._previous_state: dict[str, PolicyRuntime] = {}
        if default is not None:
            self.set_default(default)
        _registries.add(self)

    # -- configuration ---------------------------------------------------------

    def register(self, name: str, config: ResilienceConfig) -> None:
        """Add or replace the policy ``name``; takes effect from the next call."""
        _check_name(name)
        if not isinstance(config, ResilienceConfig):
            raise TypeError(
                f"register({name!r}, ...) needs a ResilienceConfig, got {config!r}"
            )
        with self._lock:
            self._configs[name] = config
            self._runtimes.pop(name, None)
            self._version += 1

    def unregister(self, name: str) -> None:
        """Remove ``name``; later calls use the default, or fail without one."""
        with self._lock:
            self._configs.pop(name, None)
            self._runtimes.pop(name, None)
            self._version += 1

    def clear(self) -> None:
        """Remove every policy and the default."""
        with self._lock:
            self._configs.clear()
            self._runtimes.clear()
            self._default = None
            self._version += 1

    def set_default(self, config: ResilienceConfig | None) -> None:
        """Use ``config`` for names that were never registered."""
        if config is not None and not isinstance(config, ResilienceConfig):
            raise TypeError(f"set_default() needs a ResilienceConfig, got {config!r}")
        with self._lock:
            self._default = config
            unregistered = [n for n in self._runtimes if n not in self._configs]
            for name in unregistered:
                del self._runtimes[name]
            self._version += 1

    def get(self, name: str) -> ResilienceConfig | None:
        """The config registered as ``name``, or ``None``."""
        return self._configs.get(name)

    def get_or_default(self, name: str) -> ResilienceConfig:
        """The config of ``name``, else the default, else raise.

        Raises:
            UnknownPolicyError: ``name`` is not registered and there is no
                default; the message lists the registered names.
        """
        config = self._configs.get(name)
        if config is not None:
            return config
        if self._default is not None:
            return self._default
        known = ", ".join(repr(n) for n in self.names) or "none"
        raise UnknownPolicyError(
            f"no resilience policy named {name!r} and no default policy; "
            f"registered: {known}",
            policy=name,
        )

    @property
    def names(self) -> list[str]:
        """Registered policy names, sorted."""
        return sorted(self._configs)

    @property
    def default(self) -> ResilienceConfig | None:
        """The config used for unregistered names, if any."""
        return self._default

    @property
    def store(self) -> StateStore:
        """Where this registry's shared state lives."""
        return self._store

    @property
    def clock(self) -> Clock:
        """The time source of every policy in this registry."""
        return self._clock

    def __contains__(self, name: object) -> bool:
        return name in self._configs

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self._configs)

    def __repr__(self) -> str:
        return f"ResilienceRegistry(names={self.names!r}, store={self._store!r})"

    # -- use -------------------------------------------------------------------

    def runtime(self, name: str) -> PolicyRuntime:
        """The live runtime of ``name``, built on first use."""
        runtime = self._runtimes.get(name)
        if runtime is not None:
            return runtime
        with self._lock:
            runtime = self._runtimes.get(name)
            if runtime is None:
                runtime = self._build(name, self.get_or_default(name))
                self._runtimes[name] = runtime
            return runtime

    def _build(self, name: str, config: ResilienceConfig) -> PolicyRuntime:
        previous = self._previous_state.get(name)
        runtime = PolicyRuntime(
            name,
            config,
            store=cast(StateStore, _ReusingStore(self._store, previous)),
            clock=self._clock,
            gate=self._gate,
            state_key=name,
        )
        self._previous_state[name] = runtime
        return runtime

    def policy(self, name: str) -> Policy:
        """A handle on ``name`` for calls and inbound guards.

        Raises:
            UnknownPolicyError: as :meth:`get_or_default`.
        """
        self.get_or_default(name)
        return Policy(self, name)

    def decorator(self, name: str) -> Callable[[F], F]:
        """Decorate functions with the policy ``name``, resolved lazily.

        The name need not be registered yet; it is looked up on each call
        after a registry change, so re-registration takes effect at once.
        """
        _check_name(name)

        def decorate(fn: F) -> F:
            binding = _Binding(self, name, fn)
            return wrap(fn, binding.resolve)

        return decorate

    # -- lifecycle -------------------------------------------------------------

    def open(self) -> None:
        """Accept calls, connect the store and build every registered policy.

        Safe to call again, including after :meth:`shutdown`.
        """
        self._store.open()
        self._start()

    async def aopen(self) -> None:
        """Async twin of :meth:`open`."""
        await self._store.aopen()
        self._start()

    def _start(self) -> None:
        for name in self.names:
            self.runtime(name)
        self._gate.accepting = True

    def shutdown(self, timeout: float = 30.0) -> bool:
        """Refuse new calls, wait up to ``timeout`` s for running ones, close.

        Returns:
            True if every in-flight call finished in time.
        """
        self._gate.accepting = False
        drained = self._gate.drain(timeout)
        self._store.close()
        return drained

    async def ashutdown(self, timeout: float = 30.0) -> bool:
        """Async twin of :meth:`shutdown`; never blocks the event loop."""
        self._gate.accepting = False
        drained = await self._gate.adrain(timeout)
        await self._store.aclose()
        return drained

    @property
    def is_open(self) -> bool:
        """Whether new calls are accepted."""
        return self._gate.accepting

    @property
    def in_flight(self) -> int:
        """Calls through this registry that have not returned yet."""
        return self._gate.in_flight

    def status(self) -> dict[str, PolicyStatus]:
        """State of every registered policy (and unregistered ones in use)."""
        names = sorted(set(self._configs) | set(self._runtimes))
        return {name: self.runtime(name).status() for name in names}

    def reset(self, name: str) -> None:
        """Close the breaker of ``name`` and clear its counters."""
        breaker = self.runtime(name).breaker
        if breaker is None:
            raise ValueError(f"policy {name!r} has no circuit breaker to reset")
        breaker.reset()

    @classmethod
    def from_mapping(
        cls,
        mapping: Mapping[str, Any],
        *,
        path: str = "config",
        store: StateStore | None = None,
        clock: Clock | None = None,
    ) -> ResilienceRegistry:
        """Build a registry from plain data.

        ``mapping`` has the keys ``default``, ``policies`` and ``store`` (any
        letter case; all optional). ``http_errors`` is allowed and ignored
        here (web adapters read it). See :func:`pyresilience.config.load_policies`
        for the policy format. Errors raise :class:`ConfigError` naming the
        key path under ``path``.
        """
        from ._loader import load_registry_parts

        default, policies, loaded_store = load_registry_parts(mapping, path=path)
        registry = cls(store=store or loaded_store, clock=clock, default=default)
        for name, config in policies.items():
            registry.register(name, config)
        return registry


class Policy:
    """A handle on one named policy of a registry.

    Cheap to create; each call resolves the current config, so a handle
    stays valid across re-registration.
    """

    __slots__ = ("name", "registry")

    def __init__(self, registry: ResilienceRegistry, name: str) -> None:
        self.registry = registry
        self.name = name

    def call(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Call sync ``fn(*args, **kwargs)`` through the policy."""
        runtime = self.registry.runtime(self.name)
        fname = runtime.name_of(fn, is_async=False)
        return runtime.call(fn, fname, args, kwargs, runtime.shared_cache)

    async def acall(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Await async ``fn(*args, **kwargs)`` through the policy."""
        runtime = self.registry.runtime(self.name)
        fname = runtime.name_of(fn, is_async=True)
        return await runtime.acall(fn, fname, args, kwargs, runtime.shared_cache)

    def guard(self) -> Guard:
        """``with policy.guard():`` admits a block through breaker, limiter
        and bulkhead and reports its outcome to the breaker."""
        return Guard(self.registry.runtime(self.name), self.name)

    def aguard(self) -> AsyncGuard:
        """``async with policy.aguard():``, the async twin of :meth:`guard`."""
        return AsyncGuard(self.registry.runtime(self.name), self.name)

    @property
    def config(self) -> ResilienceConfig:
        """The config in force for this name now."""
        return self.registry.runtime(self.name).config

    @property
    def circuit_breaker(self) -> Any:
        """The shared :class:`CircuitBreaker` of this name, or ``None``."""
        return self.registry.runtime(self.name).breaker

    def status(self) -> PolicyStatus:
        """A snapshot of this policy's state."""
        return self.registry.runtime(self.name).status()

    def __repr__(self) -> str:
        return f"Policy({self.name!r})"


class _Binding:
    """Connects one decorated function to the current runtime of a name."""

    __slots__ = ("cache", "fn", "name", "registry", "runtime", "version")

    def __init__(self, registry: ResilienceRegistry, name: str, fn: Any) -> None:
        self.registry, self.name, self.fn = registry, name, fn
        self.runtime: PolicyRuntime | None = None
        self.cache: ResultCache | None = None
        self.version = -1

    def resolve(self) -> tuple[PolicyRuntime, ResultCache | None]:
        registry = self.registry
        if self.version != registry._version or self.runtime is None:
            version = registry._version
            runtime = registry.runtime(self.name)
            check_fallback_fits(self.fn, runtime.config)
            if runtime is not self.runtime:
                # Entries are kept per decorated function, never shared.
                self.cache = runtime.new_cache()
            self.runtime, self.version = runtime, version
        return self.runtime, self.cache


class _ReusingStore:
    """Hands a new runtime the previous runtime's state when its config is equal.

    So re-registering a name with a changed retry policy does not reset its
    breaker, permits or slots.
    """

    def __init__(self, store: StateStore, previous: PolicyRuntime | None) -> None:
        self._store = store
        self._previous = previous
        self.is_local = store.is_local

    def _reuse(self, attribute: str, config: Any) -> Any:
        previous = self._previous
        backend = getattr(previous, attribute, None) if previous else None
        if backend is not None and getattr(backend, "config", None) == config:
            return backend
        return None

    def breaker(self, name: str, config: Any) -> Any:
        return self._reuse("breaker_state", config) or self._store.breaker(name, config)

    def rate_limiter(self, name: str, config: Any) -> Any:
        return self._reuse("limiter", config) or self._store.rate_limiter(name, config)

    def bulkhead(self, name: str, config: Any) -> Any:
        return self._reuse("bulkhead", config) or self._store.bulkhead(name, config)

    def retry_budget(self, name: str, config: Any) -> Any:
        return self._reuse("budget", config) or self._store.retry_budget(name, config)


def _check_name(name: object) -> None:
    if not isinstance(name, str) or not name:
        raise TypeError(f"a policy name must be a non-empty string, got {name!r}")

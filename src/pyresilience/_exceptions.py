"""Exceptions raised by pyresilience.

Hierarchy::

    Exception
     └── ResilienceError                  every error of ours
          ├── CircuitOpenError            the breaker rejected the call
          ├── BulkheadFullError           no concurrency slot was free in time
          ├── RateLimitExceededError      no rate-limit token was free in time
          ├── ResilienceTimeoutError      an attempt or the whole call ran out of
          │    │                          time (also a builtin ``TimeoutError``)
          │    └── DeadlineExceededError  the total deadline passed before an
          │                               attempt could start (also a rejection)
          ├── ShutdownError               the registry is shut down
          └── UnknownPolicyError          no policy of that name and no default
                                          (also a ``KeyError``)
    ValueError
     └── ConfigError                      bad configuration, names the key path

The three rejections (open breaker, full bulkhead, exhausted rate limit) are
raised *before* the protected function runs. They are never retried and never
count as breaker failures. Each carries the policy name (``policy``) and, where
it is known, how many seconds until a retry could succeed (``retry_after``), so
web adapters can send a ``Retry-After`` header.
"""

from __future__ import annotations

__all__ = [
    "BulkheadFullError",
    "CircuitOpenError",
    "ConfigError",
    "DeadlineExceededError",
    "RateLimitExceededError",
    "RejectedError",
    "ResilienceError",
    "ResilienceTimeoutError",
    "ShutdownError",
    "UnknownPolicyError",
]


class ResilienceError(Exception):
    """Base class of every error raised by pyresilience itself.

    Attributes:
        policy: The registry name of the policy that raised, or the qualified
            name of the decorated function when no registry name applies.
        retry_after: Seconds until a new call may succeed, when known.
    """

    policy: str | None = None
    retry_after: float | None = None

    def __init__(
        self,
        message: str = "",
        *,
        policy: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.policy = policy
        self.retry_after = retry_after


class RejectedError(ResilienceError):
    """A call turned away before it ran; never retried, never a failure."""


class CircuitOpenError(RejectedError):
    """The circuit breaker is open (or half-open with all probes taken)."""

    @classmethod
    def fast(cls, policy: str | None, retry_after: float | None) -> CircuitOpenError:
        """Build without formatting a message; ``str()`` formats it on demand.

        Rejections are raised on every call while a breaker is open, often
        far more often than anyone reads them.
        """
        error = cls.__new__(cls)
        error.policy = policy
        error.retry_after = retry_after
        return error

    def __str__(self) -> str:
        if self.args and self.args[0]:
            return str(self.args[0])
        label = f"circuit breaker {self.policy!r}" if self.policy else "circuit breaker"
        if self.retry_after:
            return f"{label} is open; next probe in {self.retry_after:.3g}s"
        return f"{label} is half-open and all probe slots are taken; retry shortly"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class BulkheadFullError(RejectedError):
    """Every concurrency slot stayed taken for longer than ``max_wait``."""


class RateLimitExceededError(RejectedError):
    """No rate-limit permit could be had within ``max_wait``."""


class ShutdownError(RejectedError):
    """The registry is shutting down and accepts no new calls."""


class ResilienceTimeoutError(ResilienceError, TimeoutError):
    """An attempt, or the whole call under a total deadline, ran out of time.

    Attributes:
        seconds: The limit that was exceeded, in seconds.
    """

    def __init__(
        self,
        message: str,
        *,
        policy: str | None = None,
        seconds: float | None = None,
    ) -> None:
        super().__init__(message, policy=policy)
        self.seconds = seconds


class DeadlineExceededError(ResilienceTimeoutError, RejectedError):
    """The call's total deadline passed before an attempt could start.

    Nothing ran, so, like the other rejections, it is never retried and never
    counts as a breaker failure, and any permit or slot taken is given back.
    """


class UnknownPolicyError(ResilienceError, KeyError):
    """A registry name was used that is not registered and there is no default."""

    def __str__(self) -> str:
        # KeyError.__str__ would wrap the message in quotes.
        return str(self.args[0])


class ConfigError(ValueError):
    """Invalid configuration; the message names the key path, value and rule.

    Attributes:
        path: Where the bad value was found, e.g.
            ``RESILIENCE["POLICIES"]["payment-api"]["retry"]["max_attempts"]``.
    """

    def __init__(self, message: str, *, path: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path

"""How the flaky upstream answers: one :class:`Mode` at a time.

A mode is plain data so it can travel as JSON to ``POST /_control`` and be
printed in the report. Randomness (which request fails, which one is slow)
is decided by the upstream with a seeded generator, not here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["MODE_NAMES", "Mode"]

#: Every mode the upstream knows, in the order the docs list them.
MODE_NAMES = ("ok", "flaky", "slow", "down", "ratelimit")

# A mode named without its parameters still does something visible.
_DEFAULTS: dict[str, dict[str, float]] = {
    "flaky": {"error_rate": 0.3},
    "slow": {"latency": 1.0},
}
_FIELDS = ("error_rate", "latency", "spike_rate", "retry_after", "limit")


@dataclass(frozen=True)
class Mode:
    """One way of answering ``GET /quote``.

    Args:
        name: ``ok`` (always 200), ``flaky`` (a share ``error_rate`` of
            answers are 500), ``slow`` (a share ``spike_rate`` of answers are
            delayed by ``latency`` seconds), ``down`` (every answer is 503)
            or ``ratelimit`` (after ``limit`` requests per client in one
            second, 429 with ``Retry-After: retry_after``; ``limit=0``
            throttles every request).
        error_rate: Share of 500 answers in ``flaky`` mode, in ``[0, 1]``.
        latency: Delay of a slow answer, seconds.
        spike_rate: Share of answers delayed in ``slow`` mode, in ``[0, 1]``.
        retry_after: Seconds sent in ``Retry-After`` in ``ratelimit`` mode.
        limit: Requests per client per second served in ``ratelimit`` mode.
    """

    name: str = "ok"
    error_rate: float = 0.0
    latency: float = 0.0
    spike_rate: float = 1.0
    retry_after: float = 1.0
    limit: int = 0

    def __post_init__(self) -> None:
        if self.name not in MODE_NAMES:
            raise ValueError(
                f"mode must be one of {', '.join(MODE_NAMES)}, got {self.name!r}"
            )
        _check_share("error_rate", self.error_rate)
        _check_share("spike_rate", self.spike_rate)
        _check_seconds("latency", self.latency)
        _check_seconds("retry_after", self.retry_after)
        if isinstance(self.limit, bool) or not isinstance(self.limit, int):
            raise TypeError(f"limit must be an integer, got {self.limit!r}")
        if self.limit < 0:
            raise ValueError(f"limit must be >= 0 requests, got {self.limit}")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Mode:
        """Build a mode from JSON-like data such as ``{"mode": "down"}``.

        Raises:
            ValueError: For a missing or unknown mode, an unknown key, or a
                value out of range; the message names the key and value.
            TypeError: For a value of the wrong kind.
        """
        unknown = sorted(set(data) - {"mode", *_FIELDS})
        if unknown:
            raise ValueError(
                f"unknown key(s) {', '.join(map(repr, unknown))}; allowed: "
                f"mode, {', '.join(_FIELDS)}"
            )
        name = data.get("mode")
        if not isinstance(name, str):
            raise ValueError(
                f"'mode' must be one of {', '.join(MODE_NAMES)}, got {name!r}"
            )
        values: dict[str, Any] = dict(_DEFAULTS.get(name, {}))
        values.update({key: data[key] for key in _FIELDS if key in data})
        return cls(name=name, **values)

    def to_mapping(self) -> dict[str, Any]:
        """Return the JSON form accepted by :meth:`from_mapping`."""
        data = asdict(self)
        return {"mode": data.pop("name"), **data}

    def describe(self) -> str:
        """Return a short human description, e.g. ``"500 for 30% of calls"``."""
        if self.name == "flaky":
            return f"500 for {self.error_rate:.0%} of calls"
        if self.name == "slow":
            share = (
                "every call"
                if self.spike_rate >= 1
                else f"{self.spike_rate:.0%} of calls"
            )
            return f"latency spikes: +{self.latency:g}s on {share}"
        if self.name == "down":
            return "503 for every call"
        if self.name == "ratelimit":
            quota = f"over {self.limit}/s" if self.limit else "every call"
            return f"429 Retry-After {self.retry_after:g}s {quota}"
        return "200 for every call"


def _check_share(name: str, value: object) -> None:
    number = _check_number(name, value)
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")


def _check_seconds(name: str, value: object) -> None:
    number = _check_number(name, value)
    if number < 0:
        raise ValueError(f"{name} must be >= 0 seconds, got {value!r}")


def _check_number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)

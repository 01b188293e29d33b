"""Plain-data view of every policy, for the status view and the command."""

from __future__ import annotations

from typing import Any

from ._build import Build

__all__ = ["describe"]


def describe(build: Build) -> dict[str, dict[str, Any]]:
    """Return ``{name: {"state": ..., ...}}`` for every configured policy.

    ``state`` is the breaker's state (``"closed"``, ``"open"``,
    ``"half_open"``) or ``None`` for a policy without a breaker. A policy
    that failed to load has ``"state": None`` and its ``"error"``.
    """
    described: dict[str, dict[str, Any]] = {}
    if build.fatal is None:
        for name, status in build.registry.status().items():
            described[name] = _describe_status(status)
    for name, error in build.broken.items():
        described[name] = {"state": None, "error": str(error)}
    if build.fatal is not None:
        described["*"] = {"state": None, "error": str(build.fatal)}
    return dict(sorted(described.items()))


def _describe_status(status: Any) -> dict[str, Any]:
    described: dict[str, Any] = status.as_dict()
    return described

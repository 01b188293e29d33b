"""Argument checks shared by the public entry points."""

from __future__ import annotations

__all__ = ["policy_name"]


def policy_name(value: object, label: str = "a policy name") -> str:
    """Return ``value`` if it is a usable registry name, else raise.

    Args:
        value: What the caller passed.
        label: How the error message names the argument.

    Raises:
        TypeError: ``value`` is not a non-empty string.
    """
    if isinstance(value, str) and value:
        return value
    raise TypeError(f"{label} must be a non-empty string, got {value!r}")

"""The ``flask resilience`` command group: ``status`` and ``reset NAME``."""

from __future__ import annotations

import json
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from pyresilience import PolicyStatus, UnknownPolicyError

from ._registry import registry_of

__all__ = ["resilience_cli", "status_as_dict"]

resilience_cli = AppGroup(
    "resilience", help="Inspect and reset the app's resilience policies."
)


@resilience_cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def status_command(as_json: bool) -> None:
    """Print each policy's breaker state, rate-limiter and bulkhead use.

    With the default in-memory store this shows the state of this command's
    own process; with a shared store (Redis) it shows the live state every
    worker sees.
    """
    statuses = registry_of(current_app).status()
    if as_json:
        data = {name: status_as_dict(status) for name, status in statuses.items()}
        click.echo(json.dumps(data, indent=2, sort_keys=True))
        return

    if not statuses:
        click.echo("no policies registered (see RESILIENCE_POLICIES)")
        return

    width = max(len(name) for name in statuses)
    for name, status in sorted(statuses.items()):
        click.echo(f"{name:<{width}}  {_describe(status)}")


@resilience_cli.command("reset")
@click.argument("name")
def reset_command(name: str) -> None:
    """Close the circuit breaker of policy NAME and clear its counters."""
    registry = registry_of(current_app)
    if name not in registry.names:
        known = ", ".join(registry.names) or "none"
        raise click.BadParameter(
            f"no policy named {name!r}; registered policies: {known}",
            param_hint="NAME",
        )

    try:
        registry.reset(name)
    except (UnknownPolicyError, ValueError) as exc:  # e.g. no breaker to reset
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{name}: circuit breaker closed")


def status_as_dict(status: PolicyStatus) -> dict[str, Any]:
    """Return plain JSON-ready data for one policy's status.

    ``state`` is the breaker state (``"closed"``, ``"open"``,
    ``"half_open"``) or ``None`` when the policy has no breaker.
    """
    return status.as_dict()


def _describe(status: PolicyStatus) -> str:
    breaker, limiter, bulkhead = status.breaker, status.rate_limiter, status.bulkhead
    parts = ["breaker=" + ("-" if breaker is None else breaker.state.value)]
    if breaker is not None and breaker.retry_after:
        parts.append(f"(next probe in {breaker.retry_after:.1f}s)")
    if limiter is None:
        parts.append("limiter=-")
    else:
        parts.append(
            f"limiter={limiter.used}/{limiter.max_calls} per {limiter.period:g}s"
        )
    if bulkhead is None:
        parts.append("bulkhead=-")
    else:
        parts.append(
            f"bulkhead={bulkhead.in_flight}/{bulkhead.max_concurrent} in flight, "
            f"{bulkhead.waiting} waiting"
        )
    return "  ".join(parts)

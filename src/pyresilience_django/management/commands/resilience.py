"""``manage.py resilience``: show each policy's state; ``--reset`` a breaker."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ... import _runtime
from ..._status import describe


class Command(BaseCommand):  # type: ignore[misc]
    """Print the state of every policy, or close breakers with ``--reset``."""

    help = (
        "Show the state of every pyresilience policy (breaker, rate limiter, "
        "bulkhead). With the in-memory store this is the state of this "
        "command's own process; set RESILIENCE['STORE'] to a Redis URL to "
        "see and reset the state your servers share."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """Add ``--reset NAME`` (repeatable) and ``--json``."""
        parser.add_argument(
            "--reset",
            action="append",
            default=[],
            metavar="NAME",
            help="Close the circuit breaker of policy NAME (repeatable).",
        )
        parser.add_argument(
            "--json", action="store_true", help="Print the state as JSON."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Reset the breakers asked for, then print every policy's state."""
        build = _runtime.current()
        for name in options["reset"]:
            self._reset(build, name)

        described = describe(build)
        if options["json"]:
            self.stdout.write(json.dumps(described, indent=2, sort_keys=True))
            return
        self._print_table(described)
        if build.fatal is None and build.registry.store.is_local:
            self.stdout.write(
                "Note: in-memory store; this is this process's state only."
            )

    def _reset(self, build: Any, name: str) -> None:
        error = build.error_for(name)
        if error is not None:
            raise CommandError(f"cannot reset {name!r}: {error}")
        names = build.registry.names
        if name not in names:
            raise CommandError(
                f"no policy named {name!r}; configured: {', '.join(names) or 'none'}"
            )
        if build.registry.policy(name).circuit_breaker is None:
            raise CommandError(f"policy {name!r} has no circuit breaker to reset")
        build.registry.reset(name)
        self.stdout.write(self.style.SUCCESS(f"Closed the breaker of {name!r}."))

    def _print_table(self, described: dict[str, dict[str, Any]]) -> None:
        if not described:
            self.stdout.write("No policies configured in settings.RESILIENCE.")
            return
        rows = [("POLICY", "BREAKER", "RETRY IN", "RATE LIMIT", "BULKHEAD")]
        errors = []
        for name, info in described.items():
            if "error" in info:
                errors.append((name, info["error"]))
                continue
            rows.append((name, *_cells(info)))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            cells = zip(row, widths, strict=True)
            line = "  ".join(cell.ljust(width) for cell, width in cells)
            self.stdout.write(line.rstrip())
        for name, message in errors:
            self.stdout.write(self.style.ERROR(f"{name}: BROKEN: {message}"))


def _cells(info: dict[str, Any]) -> tuple[str, str, str, str]:
    state = info["state"] or "-"
    retry = info.get("retry_after")
    retry_in = f"{retry:.1f}s" if state != "closed" and retry else "-"
    limiter, bulkhead = info.get("rate_limiter"), info.get("bulkhead")
    limit = "-"
    if limiter is not None:
        limit = f"{limiter['used']}/{limiter['max_calls']} per {limiter['period']:g}s"
    slots = "-"
    if bulkhead is not None:
        slots = f"{bulkhead['in_flight']}/{bulkhead['max_concurrent']} busy"
        if bulkhead["waiting"]:
            slots += f", {bulkhead['waiting']} waiting"
    return state, retry_in, limit, slots

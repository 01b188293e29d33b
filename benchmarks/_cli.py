"""Command line: choose suites and sections, run them, print the table."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import importlib.metadata
import logging
import os
import platform
import sys
from collections.abc import Callable, Sequence

from ._harness import Settings
from ._report import Section, render
from ._suite_checks import CHECK_GROUPS
from ._suite_core import GROUPS

__all__ = ["SUITES", "main", "run"]

logger = logging.getLogger(__name__)

SuiteFn = Callable[[Settings, Sequence[str]], list[Section]]

#: Distributions whose versions head the table.
_VERSIONS = (
    "pyresilience",
    "tenacity",
    "backoff",
    "stamina",
    "pybreaker",
    "circuitbreaker",
    "aiobreaker",
    "aiolimiter",
    "fastapi",
    "flask",
    "django",
    "redis",
)


def _core(settings: Settings, sections: Sequence[str]) -> list[Section]:
    out: list[Section] = []
    loop = asyncio.new_event_loop()
    try:
        for key, timed in GROUPS.items():
            if not sections or key in sections:
                out.extend(timed(settings, loop))
        for key, check in CHECK_GROUPS.items():
            if not sections or key in sections:
                out.append(check(settings, loop))
    finally:
        loop.close()
    return out


def _lazy(module: str, function: str) -> SuiteFn:
    # Web and Redis suites import their frameworks only when chosen.
    def run(settings: Settings, sections: Sequence[str]) -> list[Section]:
        imported = __import__(f"benchmarks.{module}", fromlist=[function])
        suite: SuiteFn = getattr(imported, function)
        return suite(settings, sections)

    return run


#: The suites ``--only`` chooses from, in the order they run.
SUITES: dict[str, SuiteFn] = {
    "core": _core,
    "fastapi": _lazy("_suite_web", "fastapi_sections"),
    "flask": _lazy("_suite_web", "flask_sections"),
    "django": _lazy("_suite_web", "django_sections"),
    "redis": _lazy("_suite_redis", "redis_sections"),
}

SECTIONS = (*GROUPS, *CHECK_GROUPS)


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "-"


def header(settings: Settings, quick: bool) -> str:
    """Return the lines that say where and how the table was measured."""
    versions = ", ".join(f"{name} {_version(name)}" for name in _VERSIONS)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            f"pyresilience benchmarks, {now}",
            f"Python {platform.python_version()} ({platform.python_implementation()})"
            f" on {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
            f"mode: {'quick (smoke run, numbers are rough)' if quick else 'full'};"
            f" {settings.repeats} runs of >= {settings.min_time * 1000:g} ms per case,"
            " best and median reported, GC off while timing",
            f"versions: {versions}",
            "",
        ]
    )


def run(
    suites: Sequence[str], sections: Sequence[str], *, quick: bool
) -> list[Section]:
    """Run the chosen suites and return their sections.

    Args:
        suites: Keys of :data:`SUITES`; all of them when empty.
        sections: Core section keys (``happy``, ``retry``, ...); all when empty.
        quick: Use the short smoke-run settings.
    """
    settings = Settings.for_mode(quick=quick)
    out: list[Section] = []
    for key, suite in SUITES.items():
        if suites and key not in suites:
            continue
        logger.info("running the %s suite", key)
        out.extend(suite(settings, sections))
    return out


def _split(values: Sequence[str] | None) -> list[str]:
    return [item for value in values or () for item in value.split(",") if item]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=(
            "Per-call overhead of pyresilience against tenacity, backoff,"
            " stamina, pybreaker, circuitbreaker, aiobreaker, aiolimiter and"
            " hand-written floors; web adapter and Redis store costs."
        ),
    )
    parser.add_argument(
        "--quick", action="store_true", help="short runs: a smoke test, not numbers"
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="SUITE",
        help=f"run only these suites (repeat or comma-separate): {', '.join(SUITES)}",
    )
    parser.add_argument(
        "--section",
        action="append",
        metavar="KEY",
        help=f"core sections to run (default all): {', '.join(SECTIONS)}",
    )
    parser.add_argument("--output", metavar="FILE", help="also write the table here")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    args = parser.parse_args(argv)

    args.only = _split(args.only)
    args.section = _split(args.section)
    for name, chosen, allowed in (
        ("--only", args.only, SUITES),
        ("--section", args.section, SECTIONS),
    ):
        unknown = [item for item in chosen if item not in allowed]
        if unknown:
            parser.error(
                f"{name} got {', '.join(unknown)}; choose from {', '.join(allowed)}"
            )
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks and print the table; return the exit status (0)."""
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(name)s: %(message)s",
        stream=sys.stderr,
    )
    settings = Settings.for_mode(quick=args.quick)
    sections = run(args.only, args.section, quick=args.quick)
    table = render(sections, header(settings, args.quick))
    sys.stdout.write(table + "\n")
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            out.write(table + "\n")
    return 0

"""Command line: ``python -m pyresilience demo`` (also ``pyresilience demo``).

``demo`` starts a flaky HTTP service on 127.0.0.1, drives it through
registry policies and without protection, then drives each framework's
example app and a Redis-shared breaker, and prints a report. Exit status:
0 when no scene failed (skipped scenes are fine), 1 when one did, 2 for a
usage error.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import math
import sys
from collections.abc import Sequence

__all__ = ["main"]

#: Longest core-scene load; more would push the demo past a minute.
MAX_DURATION = 40.0


def _duration(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a number of seconds, got {text!r}"
        ) from None
    if not (math.isfinite(value) and 1.0 <= value <= MAX_DURATION):
        raise argparse.ArgumentTypeError(
            f"must be between 1 and {MAX_DURATION:g} seconds, got {text}"
        )
    return value


def _scene_list(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _build_parser() -> argparse.ArgumentParser:
    from ._demo.scenes import scene_names
    from ._demo.schedule import SCENARIOS

    parser = argparse.ArgumentParser(
        prog="pyresilience",
        description="pyresilience command line tools.",
    )
    from . import __version__

    parser.add_argument(
        "--version", action="version", version=f"pyresilience {__version__}"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    demo = commands.add_parser(
        "demo",
        help="run the policies against a flaky local HTTP service and report",
        description=(
            "Start a flaky HTTP service on 127.0.0.1, call it through "
            "pyresilience policies and without protection, drive the example "
            "apps, and print what happened."
        ),
    )
    demo.add_argument(
        "--scenario",
        choices=list(SCENARIOS),
        default="standard",
        help="how the service misbehaves over time (default: standard)",
    )
    demo.add_argument(
        "--duration",
        type=_duration,
        default=12.0,
        metavar="S",
        help=f"seconds of load in the core scene, 1-{MAX_DURATION:g} (default: 12)",
    )
    demo.add_argument(
        "--seed", type=int, default=7, metavar="N", help="seed for the service's luck"
    )
    demo.add_argument(
        "--verbose",
        action="store_true",
        help="also log pyresilience's warnings (abandoned timeouts, ...) to stderr",
    )
    demo.add_argument(
        "--scenes",
        type=_scene_list,
        default=(),
        metavar="A,B",
        help=f"run only these scenes, from: {', '.join(scene_names())}",
    )
    return parser


def _run_demo(args: argparse.Namespace) -> int:
    # httpx is the demo's client but not a dependency of the core.
    if importlib.util.find_spec("httpx") is None:
        sys.stderr.write(
            "pyresilience demo: error: the demo needs httpx: "
            "pip install httpx (or pip install 'pyresilience[all]')\n"
        )
        return 2

    from ._demo.runner import run_demo, select_scenes
    from ._demo.scenes._base import DemoOptions

    try:
        select_scenes(args.scenes)
    except ValueError as exc:
        sys.stderr.write(f"pyresilience demo: error: {exc}\n")
        return 2

    options = DemoOptions(args.scenario, args.duration, args.seed, args.scenes)
    # The demo provokes timeouts on purpose; their warnings would drown the
    # report, so they are shown only on request.
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.ERROR,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )

    def write(line: str) -> None:
        # Flush per line: scenes take seconds and the reader should see progress.
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    try:
        results = run_demo(options, write)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted; every server the demo started is stopped\n")
        return 130
    return 1 if any(result.status == "failed" for result in results) else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status.

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` if None.
    """
    args = _build_parser().parse_args(argv)
    if args.command == "demo":
        return _run_demo(args)
    return 2  # argparse rejects unknown commands before this line


if __name__ == "__main__":
    sys.exit(main())

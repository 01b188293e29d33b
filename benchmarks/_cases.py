"""Cases, and running a list of them into a :class:`Section` of rows."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ._harness import (
    Settings,
    Timing,
    time_async_group,
    time_sync_group,
    time_threads_group,
)
from ._report import Row, Section
from ._subjects import RESULT, Unavailable

__all__ = ["ANY", "Case", "build_all", "run_async", "run_sync", "run_threads"]

logger = logging.getLogger(__name__)

#: ``Case.expect`` value meaning "any return value is fine".
ANY: Any = object()


@dataclass
class Case:
    """One thing to time.

    Attributes:
        label: The row's name.
        kind: ``"floor"``, ``"peer"`` or ``"ours"``.
        build: Returns the zero-argument callable to time; may raise
            :class:`Unavailable` (the row is then skipped with the reason).
        expect: What one call must return, checked before timing so that a
            misconfigured case (say, a fallback answering for a rejection)
            is never reported as fast.
        note: A remark printed under the table.
    """

    label: str
    kind: str
    build: Callable[[], Callable[[], Any]]
    expect: Any = RESULT
    note: str = ""


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def build_all(
    section: Section,
    cases: Sequence[Case],
    check: Callable[[Callable[[], Any]], Any],
    unit: str = "ns/call",
) -> list[tuple[Case, Callable[[], Any]]]:
    """Build and sanity-check every case; skipped ones become rows at once.

    Args:
        section: Receives a skipped row for each case that cannot run.
        cases: The cases, in table order.
        check: Calls a built callable once and returns its result (for async
            cases it runs the coroutine to completion).
        unit: Unit for skipped rows.

    Returns:
        The ``(case, callable)`` pairs that built and returned what they
        should.
    """
    ready = []
    for case in cases:
        try:
            fn = case.build()
            result = check(fn)
        except Unavailable as exc:
            section.skip(case.label, case.kind, str(exc), unit)
            continue
        except Exception as exc:
            logger.debug("case %s failed", case.label, exc_info=True)
            section.skip(case.label, case.kind, f"failed: {_describe(exc)}", unit)
            continue

        if case.expect is not ANY and result != case.expect:
            reason = f"returned {result!r}, expected {case.expect!r}"
            section.skip(case.label, case.kind, reason, unit)
            continue
        ready.append((case, fn))
    return ready


def _rows(
    section: Section,
    ready: Sequence[tuple[Case, Callable[[], Any]]],
    timings: Sequence[Timing],
    unit: str = "ns/call",
) -> None:
    for (case, _), timing in zip(ready, timings, strict=True):
        if timing.error:
            section.skip(case.label, case.kind, timing.error, unit)
            continue
        section.add(
            Row(
                case.label, case.kind, timing.best_ns, unit, timing.median_ns, case.note
            )
        )


def _reorder(section: Section, cases: Sequence[Case]) -> None:
    # Skipped rows were added while building, before the timed ones.
    order = {case.label: index for index, case in enumerate(cases)}
    section.rows.sort(key=lambda row: order.get(row.case, len(order)))


def run_sync(title: str, cases: Sequence[Case], settings: Settings) -> Section:
    """Time sync cases together into a new section."""
    section = Section(title)
    ready = build_all(section, cases, lambda fn: fn())
    timings = time_sync_group([fn for _, fn in ready], settings)
    _rows(section, ready, timings)
    _reorder(section, cases)
    return section


def run_async(
    title: str,
    cases: Sequence[Case],
    settings: Settings,
    loop: asyncio.AbstractEventLoop,
) -> Section:
    """Time coroutine-function cases together into a new section."""
    section = Section(title)
    ready = build_all(section, cases, lambda fn: loop.run_until_complete(fn()))
    timings = time_async_group([fn for _, fn in ready], settings, loop)
    _rows(section, ready, timings)
    _reorder(section, cases)
    return section


def run_threads(
    title: str,
    cases: Sequence[Case],
    settings: Settings,
) -> Section:
    """Time sync cases called from ``settings.threads`` threads at once."""
    section = Section(title)
    ready = build_all(section, cases, lambda fn: fn())
    timings = time_threads_group([fn for _, fn in ready], settings)
    _rows(section, ready, timings)
    _reorder(section, cases)
    return section

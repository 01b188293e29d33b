"""Lays the demo's results out as plain text, one section per scene."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from .. import CircuitState
from .lanes import CallRecord, Lane
from .metrics import BreakerChange, percentile
from .scenes import SceneResult
from .scenes._base import DemoOptions
from .scenes.adapters import AppRun, Step, describe_answers
from .scenes.core import CoreResult
from .scenes.shared import SharedRun
from .schedule import SCENARIOS, Phase

__all__ = ["render_header", "render_scene", "render_summary", "scene_heading"]

WIDTH = 80
_MAX_CHANGES = 16


def render_header(options: DemoOptions, scenes: Sequence[str]) -> list[str]:
    """Return the banner: what runs, with which scenario, duration and seed."""
    scenario = SCENARIOS[options.scenario]
    return [
        " pyresilience demo ".center(WIDTH, "="),
        f"scenario  {options.scenario}: {scenario.summary}",
        f"load      {options.duration:g}s per lane, seed {options.seed}",
        f"scenes    {', '.join(scenes)}",
        "every server runs on 127.0.0.1 and is stopped when the demo ends",
    ]


def scene_heading(index: int, total: int, title: str) -> list[str]:
    """Return the heading printed before a scene runs."""
    return ["", f"[{index}/{total}] {title} ".ljust(WIDTH, "-")]


def render_scene(result: SceneResult) -> list[str]:
    """Return the body of one scene's section."""
    lines: list[str] = []
    if result.status == "skipped":
        return [f"  skipped: {result.reason}"]
    if isinstance(result.data, CoreResult):
        lines = render_core(result.data)
    elif isinstance(result.data, AppRun):
        lines = render_app(result.data)
    elif isinstance(result.data, SharedRun):
        lines = render_shared(result.data)
    if result.status == "failed":
        reason = textwrap.indent(result.reason, "    ").strip()
        lines.append(f"  FAILED: {reason}")
    lines.append(f"  ({result.seconds:.1f}s)")
    return lines


def render_summary(results: Sequence[SceneResult], elapsed: float) -> list[str]:
    """Return the closing summary: each scene's status and the total time."""
    lines = ["", " summary ".center(WIDTH, "=")]
    for result in results:
        status = {"ok": "ok", "skipped": "skipped", "failed": "FAILED"}[result.status]
        detail = f": {result.reason.splitlines()[0]}" if result.reason else ""
        lines.append(f"  {result.name:<8} {status}{detail}"[:WIDTH])
    failed = sum(result.status == "failed" for result in results)
    verdict = f"{failed} scene(s) failed" if failed else "no scene failed"
    lines.append(f"  {verdict}; finished in {elapsed:.1f}s")
    return lines


def render_core(core: CoreResult) -> list[str]:
    """Return the core scene's section: schedule, policies, tables, events."""
    lines = [f"  upstream  {core.url}  (python -m pyresilience._demo.upstream)"]
    lines.append(f"  schedule  scenario {core.schedule.scenario!r}, seed {core.seed}")
    for phase in core.schedule.phases:
        span = f"{phase.start:5.1f} - {phase.end:5.1f}s"
        lines.append(f"    {span}  {phase.label:<15} {phase.mode.describe()}")
    lines.append("  policies  one ResilienceRegistry")
    for name, summary in core.policies:
        wrapped = textwrap.wrap(summary, WIDTH - 20)
        lines.append(f"    {name:<14}{wrapped[0]}")
        lines.extend(f"    {'':<14}{more}" for more in wrapped[1:])

    lines += ["", *_outcome_table(core), "", *_effort_table(core)]
    lines += ["", *_phase_tables(core), "", *_changes(core), *_errors(core)]
    lines += _takeaways(core)
    return lines


def _label(lane: Lane) -> str:
    return f"{lane.policy or 'unprotected':<13}{lane.kind}"


def _outcome_table(core: CoreResult) -> list[str]:
    headers = ("what callers got", "calls", "ok", "fallback", "error", "p50", "p99")
    rows: list[list[str]] = []
    for group in core.groups:
        if rows:
            rows.append([])
        for result in group:
            rows.append(
                [
                    _label(result.lane),
                    str(result.calls),
                    _share(result.count("ok"), result.calls),
                    _share(result.count("fallback"), result.calls),
                    _share(result.count("error"), result.calls),
                    _seconds(result.latency(0.5)),
                    _seconds(result.latency(0.99)),
                ]
            )
    notes = "ok: a real answer; fallback: the last good quote, marked stale; "
    notes += "error: an exception reached the caller; p50/p99: the caller's wait"
    return [*_table(headers, rows), *_note(notes)]


def _effort_table(core: CoreResult) -> list[str]:
    headers = (
        "what it took",
        "retry",
        "timeout",
        "breaker",
        "limiter",
        "bulkhead",
        "upstream",
        "peak",
    )
    rows: list[list[str]] = []
    for group in core.groups:
        if rows:
            rows.append([])
        for result in group:
            events = result.events
            rows.append(
                [
                    _label(result.lane),
                    *(
                        _count(events, key)
                        for key in ("retries", "timeouts", "breaker", "limiter")
                    ),
                    _count(events, "bulkhead"),
                    str(result.upstream_requests),
                    str(result.upstream.get("peak_in_flight", 0)),
                ]
            )
    notes = "retries, attempts that timed out, and calls rejected by breaker, "
    notes += "limiter and bulkhead, as counted by a MetricsCollector listener; "
    notes += "upstream: requests the service received; peak: most of them in "
    notes += "flight at once"
    return [*_table(headers, rows), *_note(notes)]


def _phase_tables(core: CoreResult) -> list[str]:
    phases = core.schedule.phases
    labels = [phase.label for phase in phases]
    ok_rows: list[list[str]] = []
    wait_rows: list[list[str]] = []
    load_rows: list[list[str]] = []
    for group in core.groups:
        if ok_rows:
            for rows in (ok_rows, wait_rows, load_rows):
                rows.append([])
        for result in group:
            label = _label(result.lane)
            during = [result.started_in(phase) for phase in phases]
            ok_rows.append([label, *(_ok_cell(records) for records in during)])
            wait_rows.append([label, *(_p99_cell(records) for records in during)])
            counts = result.upstream.get("phases", {})
            load_rows.append([label, *(str(counts.get(name, 0)) for name in labels)])
    return [
        "  by phase (a call counts in the phase it started in)",
        "",
        *_table(("ok (+fallback)", *labels), ok_rows),
        "",
        *_table(("p99 wait", *labels), wait_rows),
        "",
        *_table(("upstream requests", *labels), load_rows),
    ]


def _ok_cell(records: Sequence[CallRecord]) -> str:
    ok = sum(record.outcome == "ok" for record in records)
    fallback = sum(record.outcome == "fallback" for record in records)
    cell = _percent(ok, len(records))
    return f"{cell} +{_percent(fallback, len(records))}" if fallback else cell


def _p99_cell(records: Sequence[CallRecord]) -> str:
    return _seconds(percentile([record.latency for record in records], 0.99))


def _takeaways(core: CoreResult) -> list[str]:
    baseline, *protected = core.groups[0]
    lines = [
        f"{result.lane.policy}: {result.count('error')} errors reached the "
        f"callers ({_percent(result.count('fallback'), result.calls)} answered by "
        f"the fallback) vs {baseline.count('error')} "
        f"({_percent(baseline.count('error'), baseline.calls)}) unprotected"
        for result in protected
    ]
    outage = _phase(core, "outage")
    if outage is not None:
        spent = [
            f"{_short(r.lane)} {r.upstream.get('phases', {}).get(outage.label, 0)}"
            for r in core.groups[0]
        ]
        lines.append(f"upstream requests during the outage: {', '.join(spent)}")
    spikes = _phase(core, "spikes")
    if spikes is not None:
        waits = [
            f"{_short(r.lane)} {_p99_cell(r.started_in(spikes))}"
            for r in core.groups[0]
        ]
        lines.append(f"p99 wait during the latency spikes: {', '.join(waits)}")
    unprotected, checkout = core.groups[-1][0], core.groups[-1][-1]
    lines.append(
        f"{checkout.lane.policy}: the limiter turned away "
        f"{_count(checkout.events, 'limiter')} calls and the bulkhead "
        f"{_count(checkout.events, 'bulkhead')}; at most "
        f"{checkout.upstream.get('peak_in_flight', 0)} requests were in flight "
        f"at once vs {unprotected.upstream.get('peak_in_flight', 0)} unprotected"
    )
    wrapped = []
    for line in lines:
        wrapped += textwrap.wrap(
            line,
            WIDTH - 2,
            initial_indent="  - ",
            subsequent_indent="    ",
            break_on_hyphens=False,
        )
    return ["", "  in short", *wrapped]


def _short(lane: Lane) -> str:
    return lane.policy or "unprotected"


def _phase(core: CoreResult, label: str) -> Phase | None:
    return next((p for p in core.schedule.phases if p.label == label), None)


def _changes(core: CoreResult) -> list[str]:
    if not core.changes:
        return ["  breaker transitions: none (no breaker opened)"]
    lines = ["  breaker transitions (seconds since the load started)"]
    moves = _collapse_probes(core.changes)
    for change, move in moves[:_MAX_CHANGES]:
        phase = core.schedule.phase_at(change.at).label
        lines.append(f"    {change.at:6.2f}s  {change.policy:<14}{move:<34}{phase}")
    hidden = len(moves) - _MAX_CHANGES
    if hidden > 0:
        lines.append(f"    ... and {hidden} more")
    return lines


def _collapse_probes(
    changes: Sequence[BreakerChange],
) -> list[tuple[BreakerChange, str]]:
    # A failed probe is two transitions a few ms apart (open -> half_open ->
    # open); one line says the same and keeps the list readable.
    moves: list[tuple[BreakerChange, str]] = []
    pending: dict[str, int] = {}
    for change in changes:
        move = f"{change.old.value} -> {change.new.value}"
        index = pending.pop(change.policy, None)
        if index is not None and change.new is CircuitState.OPEN:
            moves[index] = (moves[index][0], "probe failed: half_open -> open")
            continue
        if index is not None and change.new is CircuitState.CLOSED:
            moves[index] = (moves[index][0], "probe passed: half_open -> closed")
            continue
        if change.new is CircuitState.HALF_OPEN:
            pending[change.policy] = len(moves)
        moves.append((change, move))
    return moves


def _errors(core: CoreResult) -> list[str]:
    lines: list[str] = []
    for group in core.groups:
        for result in group:
            errors = result.errors()
            if errors:
                shown = ", ".join(f"{name} {n}" for name, n in errors.most_common())
                lines += textwrap.wrap(
                    shown,
                    WIDTH,
                    initial_indent=f"    {_label(result.lane):<19} ",
                    subsequent_indent=" " * 24,
                )
    return ["", "  errors that reached the callers", *lines] if lines else []


def render_app(run: AppRun) -> list[str]:
    """Return an adapter scene's section: command, steps and checks."""
    command = _wrap(run.command)
    lines = [f"  command   {command[0]}"]
    lines += [f"  {'':<9} {more}" for more in command[1:]]
    lines.append(f"  ready in  {run.startup:.2f}s")
    lines += _steps(run.steps)
    lines += _checks(run.checks)
    return lines


def render_shared(run: SharedRun) -> list[str]:
    """Return the Redis scene's section."""
    lines = [
        f"  redis     {run.redis_url}  (a redis-server the demo started)",
        f"  workers   3 processes of the {run.app} example app, one port each,",
        f"  {'':<9} all with RESILIENCE_STORE={run.redis_url}",
        f"  ready in  {run.startup:.2f}s",
    ]
    return lines + _steps(run.steps) + _checks(run.checks)


def _steps(steps: Sequence[Step]) -> list[str]:
    lines = []
    for step in steps:
        answers = describe_answers(step.answers) if step.answers else step.note
        line = f"  {step.label:<9} {step.request:<33} {answers}".rstrip()
        note = step.note if step.answers else ""
        if note and len(line) + len(note) + 3 <= WIDTH:
            lines.append(f"{line}   {note}")
            continue
        lines.append(line)
        if note:
            lines.append(f"  {'':<9} {note}")
    return lines


def _checks(checks: Sequence[object]) -> list[str]:
    lines = []
    for index, check in enumerate(checks):
        head = "checks" if index == 0 else ""
        mark = "[ok]  " if getattr(check, "passed", False) else "[FAIL]"
        lines.append(f"  {head:<9} {mark} {getattr(check, 'text', check)}")
    return lines


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [len(header) for header in headers]
    for row in rows:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], len(cell))
    lines = ["  " + _row(headers, widths)]
    lines.append("  " + "  ".join("-" * width for width in widths))
    lines += ["  " + _row(row, widths) if row else "" for row in rows]
    return lines


def _row(cells: Sequence[str], widths: Sequence[int]) -> str:
    first = cells[0].ljust(widths[0])
    rest = (
        cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)
    )
    return "  ".join((first, *rest)).rstrip()


def _note(text: str) -> list[str]:
    return ["  " + line for line in textwrap.wrap(f"({text})", WIDTH - 2)]


def _wrap(text: str) -> list[str]:
    return textwrap.wrap(text, WIDTH - 12, break_on_hyphens=False) or [""]


def _count(events: object, key: str) -> str:
    if not isinstance(events, dict) or not events:
        return "-"
    return str(events.get(key, 0))


def _share(part: int, whole: int) -> str:
    return f"{part} {_percent(part, whole):>4}" if whole else str(part)


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "-"


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f}ms" if value < 1 else f"{value:.2f}s"

"""Sync timeouts run in a worker thread, which has its own DB connection."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from django.db import connection, connections, transaction
from django.test import override_settings

from pyresilience_django import WorkerDatabaseError, resilient

SETTING = {
    "POLICIES": {
        "timed": {
            "timeout": {"seconds": 5},
            "retry": {"max_attempts": 3, "delay": 0, "jitter": False},
            "circuit_breaker": {"failure_threshold": 1, "recovery_timeout": 60},
        },
        "untimed": {"retry": {"max_attempts": 3, "delay": 0, "jitter": False}},
    }
}


@pytest.fixture(autouse=True)
def timed_setting() -> Iterator[None]:
    """Every test here runs under SETTING."""
    with override_settings(RESILIENCE=SETTING):
        yield


class Query:
    """Runs ``SELECT 1`` and remembers on which thread and connection."""

    def __init__(self) -> None:
        self.calls = 0
        self.threads: list[int] = []
        self.connections: list[object] = []

    def __call__(self) -> int:
        self.calls += 1
        self.threads.append(threading.get_ident())
        self.connections.append(connections["default"])
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return int(cursor.fetchone()[0])


def test_query_in_a_worker_inside_atomic_is_refused() -> None:
    """Inside transaction.atomic() a worker's query raises a clear error."""
    query = Query()
    timed = resilient("timed")(query)

    with transaction.atomic():
        with pytest.raises(WorkerDatabaseError) as caught:
            timed()

    message = str(caught.value)
    assert "'timed'" in message
    assert "'default'" in message
    assert "transaction.atomic()" in message
    assert "remove the policy's timeout" in message


def test_refused_query_is_neither_retried_nor_a_breaker_failure() -> None:
    """The refusal is a bug to fix, so it is raised at once and counts nothing."""
    query = Query()
    timed = resilient("timed")(query)

    with transaction.atomic():
        with pytest.raises(WorkerDatabaseError):
            timed()
    # The breaker opens after one failure; it must still be closed.
    assert timed() == 1

    assert query.calls == 2


def test_worker_runs_on_its_own_connection_outside_atomic() -> None:
    """Outside a transaction the worker may query, on another connection."""
    query = Query()

    assert resilient("timed")(query)() == 1

    assert query.threads[0] != threading.get_ident()
    assert query.connections[0] is not connections["default"]


def test_worker_connection_is_closed_after_the_attempt() -> None:
    """Like a request's, the worker's connection ends with the attempt."""
    seen: list[object] = []

    @resilient("timed")
    def query() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        wrapper = connections["default"]  # this worker thread's own wrapper
        seen.extend([wrapper, wrapper.connection])

    query()

    wrapper, live = seen
    assert live is not None
    assert wrapper.connection is None  # closed once the attempt returned


def test_without_timeout_the_callers_transaction_is_used() -> None:
    """No timeout, no worker: the function runs in the caller's transaction."""
    query = Query()

    with transaction.atomic():
        assert resilient("untimed")(query)() == 1

    assert query.threads == [threading.get_ident()]

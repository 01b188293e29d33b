"""Database connections and the worker threads of sync timeouts.

A sync function under a ``timeout`` runs in a worker thread, and Django
gives every thread its own database connection. The worker therefore never
uses the caller's connection: it does not see the caller's uncommitted
writes, is not rolled back with the caller's transaction, and may block on
the caller's locks until the timeout fires.

When the caller is inside ``transaction.atomic()`` that silently breaks
the caller's assumptions, so a query from the worker raises
:class:`WorkerDatabaseError` instead. Outside a transaction the worker's
queries run on its own connection, which is closed (or kept, following
``CONN_MAX_AGE``) when the attempt ends, as Django does at the end of a
request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import connections

__all__ = [
    "Caller",
    "WorkerDatabaseError",
    "caller",
    "close_worker_connections",
    "refuse_queries",
]


class WorkerDatabaseError(RuntimeError):
    """A query ran in a timeout worker while the caller held a transaction.

    The worker has its own connection, outside the caller's transaction.
    Query before or after the protected call, commit first, or drop the
    policy's ``timeout`` (which is what moves the call to a worker).

    Attributes:
        policy: The registry name of the policy.
        alias: The database alias the query was for.
    """

    def __init__(self, policy: str, alias: str) -> None:
        super().__init__(
            f"policy {policy!r}: a query on database {alias!r} ran in the worker "
            "thread of a sync timeout while the calling thread is inside "
            "transaction.atomic(). Django gives each thread its own connection, "
            "so this query would run outside the caller's transaction: it cannot "
            "see the caller's uncommitted writes, is not rolled back with them, "
            "and may wait on the caller's locks. Query before or after the "
            "protected call, or remove the policy's timeout."
        )
        self.policy = policy
        self.alias = alias


@dataclass(frozen=True)
class Caller:
    """Who made a protected call: its thread and its open transactions."""

    policy: str
    thread: int
    atomic: tuple[str, ...]

    def is_foreign(self) -> bool:
        """True when the code runs on another thread than the caller's."""
        return threading.get_ident() != self.thread


def caller(policy: str) -> Caller:
    """Describe the calling thread, for checks made later in a worker."""
    atomic = tuple(
        conn.alias
        for conn in connections.all(initialized_only=True)
        if conn.in_atomic_block
    )
    return Caller(policy, threading.get_ident(), atomic)


@contextmanager
def refuse_queries(origin: Caller) -> Iterator[None]:
    """Make queries on the caller's transactional aliases raise here."""
    with ExitStack() as stack:
        for alias in origin.atomic:
            stack.enter_context(
                connections[alias].execute_wrapper(_refuser(origin.policy, alias))
            )
        yield


def _refuser(policy: str, alias: str) -> Callable[..., Any]:
    def refuse(*args: Any) -> Any:
        raise WorkerDatabaseError(policy, alias)

    return refuse


def close_worker_connections() -> None:
    """End this thread's connections the way Django ends a request's."""
    for conn in connections.all(initialized_only=True):
        conn.close_if_unusable_or_obsolete()

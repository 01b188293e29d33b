"""Unique ids for leases and reservations, distinct across processes."""

from __future__ import annotations

import itertools
import os

__all__ = ["new_id"]


def _make_tag() -> str:
    return f"{os.getpid():x}.{os.urandom(6).hex()}."


_tag = _make_tag()
_counter = itertools.count(1)


def new_id() -> str:
    """Return an id no other process or call of this process will use."""
    return f"{_tag}{next(_counter):x}"


def _reseed() -> None:
    # A forked child inherits the parent's tag and counter; without a new tag
    # both processes would hand out the same ids.
    global _tag
    _tag = _make_tag()


os.register_at_fork(after_in_child=_reseed)

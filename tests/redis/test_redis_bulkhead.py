"""The shared bulkhead against a real redis-server."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from pyresilience import BulkheadConfig
from pyresilience.stores import RedisStore


def test_one_limit_holds_across_stores(make_store: Callable[..., RedisStore]) -> None:
    """Two stores share max_concurrent slots; a release frees one for anyone."""
    config = BulkheadConfig(max_concurrent=2)
    one = make_store().bulkhead("api", config)
    two = make_store().bulkhead("api", config)

    first, second, third = one.acquire(0.0), two.acquire(0.0), one.acquire(0.0)

    assert first is not None and second is not None and third is None
    assert one.snapshot().in_flight == 2
    two.release(second)
    assert one.acquire(0.0) is not None


def test_a_waiter_gets_the_slot_when_it_is_released(
    make_store: Callable[..., RedisStore],
) -> None:
    """A caller waiting up to max_wait takes the slot another process frees."""
    config = BulkheadConfig(max_concurrent=1)
    holder = make_store().bulkhead("api", config)
    waiter = make_store().bulkhead("api", config)
    slot = holder.acquire(0.0)
    threading.Timer(0.15, holder.release, args=(slot,)).start()

    started = time.monotonic()
    token = waiter.acquire(2.0)

    assert token is not None
    assert 0.1 < time.monotonic() - started < 1.0


def test_waiters_are_served_first_come_first_served(
    make_store: Callable[..., RedisStore],
) -> None:
    """The earliest waiter gets the freed slot, and no newcomer jumps the queue."""
    config = BulkheadConfig(max_concurrent=1)
    holder = make_store().bulkhead("api", config)
    slot = holder.acquire(0.0)
    served: list[str] = []

    def wait(label: str) -> None:
        bulkhead = make_store().bulkhead("api", config)
        token = bulkhead.acquire(5.0)
        served.append(label)
        time.sleep(0.05)
        bulkhead.release(token)

    threads = []
    for label in ("first", "second", "third"):
        threads.append(threading.Thread(target=wait, args=(label,)))
        threads[-1].start()
        time.sleep(0.08)
    assert holder.snapshot().waiting == 3
    holder.release(slot)
    newcomer = holder.acquire(0.0)
    for thread in threads:
        thread.join(10)

    assert newcomer is None
    assert served == ["first", "second", "third"]


def test_a_timed_out_waiter_leaves_the_queue(store: RedisStore) -> None:
    """After max_wait the caller gets None and is no longer queued."""
    bulkhead = store.bulkhead("api", BulkheadConfig(max_concurrent=1))
    assert bulkhead.acquire(0.0) is not None

    started = time.monotonic()
    assert bulkhead.acquire(0.2) is None

    assert 0.18 < time.monotonic() - started < 0.6
    assert bulkhead.snapshot().waiting == 0


def test_a_dead_holders_slot_comes_back(make_store: Callable[..., RedisStore]) -> None:
    """A slot whose holder stopped renewing it expires after lease_ttl."""
    config = BulkheadConfig(max_concurrent=1)
    dead = make_store(lease_ttl=0.3)
    assert dead.bulkhead("api", config).acquire(0.0) is not None
    dead._keeper.stop()  # the holder "dies": nobody renews its lease
    other = make_store(lease_ttl=0.3).bulkhead("api", config)

    assert other.acquire(0.0) is None
    time.sleep(0.4)
    assert other.acquire(0.0) is not None


def test_a_long_call_keeps_its_slot(make_store: Callable[..., RedisStore]) -> None:
    """A live holder renews its lease, so a call longer than lease_ttl keeps it."""
    config = BulkheadConfig(max_concurrent=1)
    holder = make_store(lease_ttl=0.3).bulkhead("api", config)
    other = make_store(lease_ttl=0.3).bulkhead("api", config)
    slot = holder.acquire(0.0)

    time.sleep(0.8)

    assert other.acquire(0.0) is None
    holder.release(slot)
    assert other.acquire(0.0) is not None


def test_close_gives_held_slots_back(make_store: Callable[..., RedisStore]) -> None:
    """Closing a store releases the slots it still held."""
    config = BulkheadConfig(max_concurrent=1)
    closing = make_store()
    assert closing.bulkhead("api", config).acquire(0.0) is not None

    closing.close()

    assert make_store().bulkhead("api", config).acquire(0.0) is not None

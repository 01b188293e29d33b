"""A throwaway redis-server for the Redis store tests, on 127.0.0.1 only."""

from __future__ import annotations

import functools
import inspect
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from typing import Any

import pytest
import redis

REQUIRE_ENV = "PYRESILIENCE_REQUIRE_REDIS"


def redis_binary() -> str:
    """Return the redis-server path; skip (or fail in CI) when it is missing."""
    path = shutil.which("redis-server")
    if path is not None:
        return path
    message = (
        "redis-server is not installed (not found on PATH); install it, e.g. "
        "`apt-get install redis-server`, to run the Redis store tests"
    )
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{message}; {REQUIRE_ENV}=1 requires them", pytrace=False)
    pytest.skip(message)


@functools.cache
def debug_options(binary: str) -> tuple[str, ...]:
    """Options that allow ``DEBUG`` from 127.0.0.1 (needed from Redis 7 on)."""
    version = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=30
    ).stdout
    major = re.search(r"v=(\d+)\.", version)
    if major is not None and int(major.group(1)) >= 7:
        return ("--enable-debug-command", "local")
    return ()  # older servers allow DEBUG to everyone


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """One redis-server process: no persistence, its own temp dir, 127.0.0.1.

    It can be stopped and started again on the same port, to play an outage.
    With ``password`` it refuses clients that do not authenticate.
    """

    def __init__(self, binary: str, *, password: str | None = None) -> None:
        self.binary = binary
        self.password = password
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="pyresilience-redis-")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The URL of database 0 (with the password, if any)."""
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait until it answers PING."""
        self.process = subprocess.Popen(
            [
                self.binary,
                "--bind", "127.0.0.1",
                "--port", str(self.port),
                "--dir", self.dir,
                "--save", "",
                "--appendonly", "no",
                "--daemonize", "no",
                "--protected-mode", "yes",
                "--loglevel", "warning",
                *debug_options(self.binary),
                *(("--requirepass", self.password) if self.password else ()),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self._wait_until_up()

    def stop(self) -> None:
        """Kill the server (as an outage would) and wait for it to exit."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def close(self) -> None:
        """Stop the server and remove its directory."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def client(self) -> redis.Redis:
        """Return a new plain client (the caller closes it)."""
        return redis.Redis(
            host="127.0.0.1", port=self.port, socket_timeout=5, password=self.password
        )

    def freeze(self, seconds: float) -> threading.Thread:
        """Make the server sleep ``seconds`` (``DEBUG SLEEP``) from a thread.

        Like a server stalled by a long command or a swap storm: it keeps
        what clients send meanwhile and runs it when it wakes up, even for
        clients that gave up waiting. Returns the thread; join it to wait
        until the server is awake again.
        """
        started = threading.Event()

        def sleep() -> None:
            with self.client() as admin:
                started.set()
                admin.execute_command("DEBUG", "SLEEP", seconds)

        thread = threading.Thread(target=sleep, daemon=True)
        thread.start()
        started.wait(5)
        time.sleep(0.02)  # let DEBUG SLEEP reach the server
        return thread

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + 10
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"redis-server exited with {self.process.returncode} on port "
                    f"{self.port}"
                )
            try:
                with self.client() as client:
                    client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)


class LostReplies:
    """Makes script calls run on the server but lose their reply.

    That is what a client sees from a server slower than its timeout: it
    gives up, and the server still runs what was sent. ``arm(n)`` loses the
    next ``n`` replies to ``EVALSHA`` by raising ``error`` once the script
    has run; with ``before=True`` the error is raised before sending, as
    when a task is cancelled before its request leaves.
    """

    def __init__(
        self, error: type[BaseException] = redis.TimeoutError, *, before: bool = False
    ) -> None:
        self.error = error
        self.before = before
        self.armed = 0

    def arm(self, count: int = 1) -> None:
        """Lose the next ``count`` script replies."""
        self.armed = count

    def _lose(self, command: object) -> bool:
        if self.armed and command == "EVALSHA":
            self.armed -= 1
            return True
        return False

    def watch(self, client: Any) -> None:
        """Wrap ``client.execute_command`` (sync or async)."""
        original = client.execute_command

        if inspect.iscoroutinefunction(original):

            async def lossy_async(*args: Any, **options: Any) -> Any:
                if self.before and self._lose(args[0]):
                    raise self.error("request never sent")
                reply = await original(*args, **options)
                # Counted only once the script ran (not on NOSCRIPT).
                if not self.before and self._lose(args[0]):
                    raise self.error("reply lost")
                return reply

            client.execute_command = lossy_async
        else:

            def lossy(*args: Any, **options: Any) -> Any:
                if self.before and self._lose(args[0]):
                    raise self.error("request never sent")
                reply = original(*args, **options)
                if not self.before and self._lose(args[0]):
                    raise self.error("reply lost")
                return reply

            client.execute_command = lossy


class RoundTrips:
    """Counts the commands a store sends through its sync and async clients."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def watch(self, client: Any) -> None:
        """Wrap ``client.execute_command`` (sync or async) to count calls."""
        original = client.execute_command
        sent = self.sent

        if inspect.iscoroutinefunction(original):

            async def counted_async(*args: Any, **options: Any) -> Any:
                sent.append(str(args[0]))
                return await original(*args, **options)

            client.execute_command = counted_async
        else:

            def counted(*args: Any, **options: Any) -> Any:
                sent.append(str(args[0]))
                return original(*args, **options)

            client.execute_command = counted

    def __len__(self) -> int:
        return len(self.sent)

    def clear(self) -> None:
        """Forget what was counted so far."""
        self.sent.clear()

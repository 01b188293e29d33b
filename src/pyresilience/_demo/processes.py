"""Child processes the demo starts on 127.0.0.1, and stops for sure.

Each child writes its output to a log file (a pipe nobody reads could fill
and block it); when a child fails to come up, the tail of that log goes
into the error so the report says why.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import httpx

__all__ = [
    "ManagedProcess",
    "StartError",
    "free_port",
    "redis_ping",
    "start_upstream",
]

HOST = "127.0.0.1"


class StartError(RuntimeError):
    """A child process exited or did not answer in time."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class ManagedProcess:
    """One child process with its output captured in a temporary log file.

    Args:
        name: Shown in errors and the report, e.g. ``"uvicorn fastapi_app"``.
        argv: The command line.
        env: Extra environment variables, added to this process's own.
        unset: Names of variables of this process not to pass on.
        cwd: Working directory; the current one when ``None``.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        unset: Sequence[str] = (),
        cwd: str | Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        inherited = {k: v for k, v in os.environ.items() if k not in unset}
        self._env = {**inherited, **(env or {})}
        self._cwd = cwd
        # Lives as long as this object and is closed by stop().
        self._log = tempfile.TemporaryFile(prefix="pyresilience-demo-")  # noqa: SIM115
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The child's process id once started."""
        return self._process.pid if self._process else None

    @property
    def returncode(self) -> int | None:
        """The exit code, or ``None`` while running (or not started)."""
        return self._process.poll() if self._process else None

    def start(self) -> ManagedProcess:
        """Start the child; return ``self``."""
        self._process = subprocess.Popen(
            self.argv,
            cwd=self._cwd,
            env=self._env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        return self

    def wait_until(
        self, ready: Callable[[], bool], *, timeout: float, what: str
    ) -> float:
        """Poll ``ready`` until true; return the seconds it took.

        Raises:
            StartError: If the child exits first or ``timeout`` passes; the
                message holds the tail of its output.
        """
        started = time.monotonic()
        while True:
            if self.returncode is not None:
                raise StartError(
                    f"{self.name} exited with code {self.returncode} before "
                    f"{what}:\n{self.log_tail()}"
                )
            if ready():
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise StartError(
                    f"{self.name} did not report {what} within {timeout:g}s:\n"
                    f"{self.log_tail()}"
                )
            time.sleep(0.05)

    def wait_http(self, url: str, *, timeout: float = 15.0) -> float:
        """Wait until ``GET url`` answers 200; return the seconds it took."""
        return self.wait_until(
            lambda: _answers_200(url), timeout=timeout, what=f"200 from {url}"
        )

    def log_tail(self, lines: int = 12) -> str:
        """Return the last ``lines`` lines the child wrote."""
        self._log.flush()
        self._log.seek(0)
        text = self._log.read().decode("utf-8", "replace")
        return "\n".join(text.rstrip().splitlines()[-lines:])

    def stop(self, timeout: float = 3.0) -> None:
        """Terminate the child, kill it if it lingers, close the log."""
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._log.close()

    def __enter__(self) -> ManagedProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _answers_200(url: str) -> bool:
    try:
        return httpx.get(url, timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


def redis_ping(port: int) -> bool:
    """Return True when a Redis server on 127.0.0.1:``port`` answers PING."""
    with contextlib.suppress(OSError):
        with socket.create_connection((HOST, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    return False


def start_upstream(
    *,
    scenario: str | None = None,
    duration: float = 20.0,
    seed: int = 0,
    timeout: float = 10.0,
) -> tuple[ManagedProcess, str]:
    """Start ``python -m pyresilience._demo.upstream`` on a free port.

    Returns:
        The running process and its base URL.

    Raises:
        StartError: If it does not answer ``/health`` within ``timeout``.
    """
    port = free_port()
    argv = [sys.executable, "-m", "pyresilience._demo.upstream", "--port", str(port)]
    argv += ["--duration", str(duration), "--seed", str(seed)]
    if scenario:
        argv += ["--scenario", scenario]
    process = ManagedProcess("flaky upstream", argv).start()
    url = f"http://{HOST}:{port}"
    try:
        process.wait_http(f"{url}/health", timeout=timeout)
    except BaseException:
        process.stop()
        raise
    return process, url

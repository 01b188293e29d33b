"""A flaky HTTP service on 127.0.0.1 for the demo to lean on.

``GET /quote`` answers according to the current :class:`~.modes.Mode`:
taken from a :class:`~.schedule.Schedule` by elapsed time, or fixed through
``POST /_control`` with JSON such as ``{"mode": "down"}``. ``{"mode":
"schedule"}`` restarts the schedule from zero and clears the counters.
``GET /_control`` shows the current mode, ``GET /_stats`` how many requests
each client made and what they got, ``GET /health`` is always 200.

Random choices (which call fails, which is slow) come from one generator
per client (named by the ``X-Demo-Client`` header), each seeded with the
same ``seed``: the n-th request of every client meets the same luck, so a
protected client and the unprotected baseline are compared fairly, and a
run can be repeated. Run it standalone with::

    python -m pyresilience._demo.upstream --port 8001 --scenario standard
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import signal
import sys
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NoReturn
from urllib.parse import urlsplit

from .. import Clock, SystemClock
from .modes import Mode
from .schedule import SCENARIOS, Schedule, build_schedule

__all__ = ["CLIENT_HEADER", "FlakyUpstream", "Reply", "UpstreamServer", "main"]

logger = logging.getLogger(__name__)

#: Request header naming the caller, for per-client luck and counters.
CLIENT_HEADER = "X-Demo-Client"
_ANONYMOUS = "anonymous"
HOST = "127.0.0.1"


@dataclass(frozen=True)
class Reply:
    """What one request gets: status, JSON body, headers, and a delay first."""

    status: int
    body: Mapping[str, Any]
    delay: float = 0.0
    headers: tuple[tuple[str, str], ...] = ()


class FlakyUpstream:
    """Decides every answer and counts them; knows nothing about HTTP.

    Args:
        schedule: Phases to follow; ``None`` starts in mode ``ok`` and only
            ``control`` changes it.
        seed: Seeds the per-client random generators.
        clock: Source of time; tests pass a fake one.
    """

    def __init__(
        self,
        schedule: Schedule | None = None,
        *,
        seed: int = 0,
        clock: Clock | None = None,
    ) -> None:
        self._schedule = schedule
        self._seed = seed
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._override: Mode | None = None if schedule else Mode("ok")
        self._reset()

    def _reset(self) -> None:
        self._started = self._clock.monotonic()
        self._rngs: dict[str, random.Random] = {}
        self._windows: dict[str, tuple[int, int]] = {}
        self._counts: dict[str, Counter[int]] = {}
        self._phases: dict[str, Counter[str]] = {}
        self._in_flight: Counter[str] = Counter()
        self._peak: Counter[str] = Counter()

    def current(self) -> tuple[Mode, str | None, float]:
        """Return the mode in force, its phase label and seconds elapsed."""
        elapsed = self._clock.monotonic() - self._started
        if self._override is not None or self._schedule is None:
            return self._override or Mode("ok"), None, elapsed
        phase = self._schedule.phase_at(elapsed)
        return phase.mode, phase.label, elapsed

    def control(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Apply a ``POST /_control`` body and return the new state.

        ``{"mode": "schedule"}`` restarts the schedule and clears counters;
        any other mode is fixed until the next control call, and
        ``"reset": true`` clears the counters as well.

        Raises:
            ValueError: For an invalid mode, or ``schedule`` without one.
            TypeError: For a parameter of the wrong kind.
        """
        data = dict(data)
        reset = data.pop("reset", False)
        if not isinstance(reset, bool):
            raise TypeError(f"reset must be true or false, got {reset!r}")

        if data.get("mode") == "schedule":
            if self._schedule is None:
                raise ValueError(
                    "mode 'schedule' needs a schedule: start the upstream with "
                    f"--scenario ({', '.join(SCENARIOS)})"
                )
            if len(data) > 1:
                raise ValueError("mode 'schedule' takes no other keys")
            mode = None
            reset = True
        else:
            mode = Mode.from_mapping(data)

        with self._lock:
            self._override = mode
            if reset:
                self._reset()
        return self.state()

    def state(self) -> dict[str, Any]:
        """Return the JSON served by ``GET /_control``."""
        mode, label, elapsed = self.current()
        return {
            "mode": mode.to_mapping(),
            "describe": mode.describe(),
            "phase": label,
            "scenario": self._schedule.scenario if self._schedule else None,
            "following_schedule": self._override is None,
            "elapsed": round(elapsed, 3),
        }

    def answer(self, client: str = _ANONYMOUS) -> Reply:
        """Decide the reply to one ``GET /quote`` from ``client`` and count it.

        The request counts as in flight until :meth:`done` is called.
        """
        mode, label, _ = self.current()
        with self._lock:
            rng = self._rngs.get(client)
            if rng is None:
                rng = self._rngs[client] = random.Random(self._seed)
            reply = self._decide(mode, rng, client)
            counts = self._counts.setdefault(client, Counter())
            counts[reply.status] += 1
            phases = self._phases.setdefault(client, Counter())
            phases[label or mode.name] += 1
            self._in_flight[client] += 1
            self._peak[client] = max(self._peak[client], self._in_flight[client])
        if reply.status == 200:
            return reply
        body = dict(reply.body, phase=label)
        return Reply(reply.status, body, reply.delay, reply.headers)

    def _decide(self, mode: Mode, rng: random.Random, client: str) -> Reply:
        # Draw every number on every call so that the luck of later calls
        # does not depend on which mode earlier calls met.
        fault_draw, price_draw = rng.random(), rng.gauss(0.0, 1.0)
        quote = {"symbol": "PYR", "price": round(100.0 + price_draw, 2)}
        if mode.name == "down":
            return Reply(503, {"error": "service unavailable: outage"})
        if mode.name == "flaky" and fault_draw < mode.error_rate:
            return Reply(500, {"error": "internal error: flaky"})
        if mode.name == "slow" and fault_draw < mode.spike_rate:
            return Reply(200, quote, delay=mode.latency)
        if mode.name == "ratelimit" and not self._within_limit(client, mode.limit):
            seconds = max(1, round(mode.retry_after))
            return Reply(
                429,
                {"error": "too many requests"},
                headers=(("Retry-After", str(seconds)),),
            )
        return Reply(200, quote)

    def _within_limit(self, client: str, limit: int) -> bool:
        second = int(self._clock.monotonic() - self._started)
        window, used = self._windows.get(client, (second, 0))
        if window != second:
            used = 0
        self._windows[client] = (second, used + 1)
        return used < limit

    def done(self, client: str = _ANONYMOUS) -> None:
        """Mark one request of ``client`` as answered (or abandoned)."""
        with self._lock:
            if self._in_flight[client] > 0:
                self._in_flight[client] -= 1

    def stats(self) -> dict[str, Any]:
        """Return the JSON served by ``GET /_stats``.

        Per client: requests, answers by status, requests by phase (or by
        mode when no schedule is followed), and the most requests that were
        in flight at once.
        """
        with self._lock:
            clients: dict[str, dict[str, Any]] = {
                name: {
                    "requests": sum(counts.values()),
                    "statuses": {str(code): n for code, n in sorted(counts.items())},
                    "peak_in_flight": self._peak[name],
                    "phases": dict(self._phases[name]),
                }
                for name, counts in sorted(self._counts.items())
            }
        total = sum(entry["requests"] for entry in clients.values())
        return {"total": total, "clients": clients}


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections alive, so clients do not pay a TCP
    # handshake per call and the numbers measure the policies, not sockets.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle's algorithm the
    # second waits for the client's delayed ACK, adding ~40 ms to each call.
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        upstream = self.server.upstream
        if path == "/quote":
            self._quote(upstream)
        elif path == "/health":
            self._send(200, {"status": "ok"})
        elif path == "/_control":
            self._send(200, upstream.state())
        elif path == "/_stats":
            self._send(200, upstream.stats())
        else:
            self._send(404, {"error": f"no such path: {path}"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = urlsplit(self.path).path
        if path != "/_control":
            self._send(404, {"error": f"no such path: {path}"})
            return

        try:
            data = json.loads(raw or b"{}")
            if not isinstance(data, dict):
                raise ValueError(f"body must be a JSON object, got {data!r}")
            state = self.server.upstream.control(data)
        except (ValueError, TypeError) as exc:
            self._send(400, {"error": str(exc)})
            return
        self._send(200, state)

    def _quote(self, upstream: FlakyUpstream) -> None:
        client = self.headers.get(CLIENT_HEADER) or _ANONYMOUS
        reply = upstream.answer(client)
        try:
            # Wait on the stop event, not time.sleep, so shutdown is prompt.
            if reply.delay and self.server.stopping.wait(reply.delay):
                self.close_connection = True
                return
            self._send(reply.status, reply.body, reply.headers)
        finally:
            upstream.done(client)

    def _send(
        self,
        status: int,
        body: Mapping[str, Any],
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        payload = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up first (its timeout fired): nothing to say.
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        # Formatting every access line would cost more than serving it.
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("upstream %s %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Bursts of new connections must queue, not be refused.
    request_queue_size = 128

    def __init__(self, port: int, upstream: FlakyUpstream) -> None:
        super().__init__((HOST, port), _Handler)
        self.upstream = upstream
        self.stopping = threading.Event()

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("upstream: error serving %s", client_address, exc_info=True)


class UpstreamServer:
    """Serves a :class:`FlakyUpstream` on 127.0.0.1 from a background thread.

    Args:
        upstream: The behaviour to serve.
        port: TCP port; 0 picks a free one (see :attr:`port`).
    """

    def __init__(self, upstream: FlakyUpstream, port: int = 0) -> None:
        self.upstream = upstream
        self._server = _Server(port, upstream)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port actually bound."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8001``."""
        return f"http://{HOST}:{self.port}"

    def start(self) -> UpstreamServer:
        """Serve in a daemon thread; return ``self``. Idempotent.

        ``with UpstreamServer(...).start() as server:`` is fine: entering
        a started server does not start a second serving thread.
        """
        if self._thread is not None:
            return self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"demo-upstream-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`stop` or an exception."""
        try:
            self._server.serve_forever(poll_interval=0.05)
        finally:
            self._close()

    def stop(self) -> None:
        """Stop serving, end delayed replies early and close the socket."""
        self._server.stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._close()

    def _close(self) -> None:
        self._server.stopping.set()
        self._server.server_close()

    def __enter__(self) -> UpstreamServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m pyresilience._demo.upstream",
        description="A flaky HTTP service on 127.0.0.1 for the pyresilience demo.",
    )
    parser.add_argument(
        "--port", type=int, default=8001, help="TCP port, 0 for any (default 8001)"
    )
    parser.add_argument(
        "--scenario",
        choices=sorted(SCENARIOS),
        help="follow this schedule (default: mode 'ok' until /_control)",
    )
    parser.add_argument(
        "--duration", type=float, default=20.0, help="schedule length in seconds"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for the luck")
    return parser.parse_args(argv)


def _exit_on_sigterm(signum: int, frame: object) -> NoReturn:
    # SystemExit unwinds serve_forever in the main thread so the socket closes.
    raise SystemExit(0)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the upstream until interrupted; print its URL once it listens."""
    args = _parse_args(argv)
    schedule = None
    if args.scenario:
        try:
            schedule = build_schedule(args.scenario, args.duration)
        except ValueError as exc:
            sys.stderr.write(f"error: {exc}\n")
            return 2

    server = UpstreamServer(FlakyUpstream(schedule, seed=args.seed), args.port)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    sys.stdout.write(f"upstream listening on {server.url}\n")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

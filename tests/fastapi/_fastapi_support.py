"""Helpers for the FastAPI tests: the example module, a uvicorn thread."""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import uvicorn
from fastapi import FastAPI

#: ``make_app(registry=None, **lifespan_options)`` from the conftest fixture.
MakeApp = Callable[..., FastAPI]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "fastapi_app.py"


def load_example() -> ModuleType:
    """Import the example app module from its file, whatever ``sys.path`` is."""
    spec = importlib.util.spec_from_file_location("fastapi_example_app", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ServerThread:
    """A real uvicorn server on 127.0.0.1 in a background thread.

    The socket is bound before the thread starts, so the port is known and
    no other process can take it in between.
    """

    def __init__(self, app: Any) -> None:
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets
        # that say so, and without it every response waits ~40 ms on Nagle.
        self.socket = socket.socket(
            socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP
        )
        self.socket.bind(("127.0.0.1", 0))
        self.port = int(self.socket.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("uvicorn did not start within 10 s")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.socket.close()


def http_scope(path: str) -> dict[str, Any]:
    """A minimal ASGI ``http`` scope for ``GET path``."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "client": ("127.0.0.1", 1234),
        "server": ("127.0.0.1", 80),
    }


class RawExchange:
    """The client side of one ASGI request: an empty body, then a disconnect.

    After the request body, ``receive`` waits until the response is complete
    before reporting the disconnect, as a server would; Starlette versions
    that listen for a disconnect while streaming would otherwise spin.
    ``on_send`` sees every message as it is sent.
    """

    def __init__(self, on_send: Callable[[dict[str, Any]], None]) -> None:
        self.on_send = on_send
        self._requested = False
        self._done = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        if not self._requested:
            self._requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self._done.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.on_send(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            self._done.set()

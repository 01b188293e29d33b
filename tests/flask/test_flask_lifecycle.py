"""The registry of every app is shut down when the process exits cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx
import pytest
from flask import Flask

from pyresilience_flask import EXTENSION_KEY
from pyresilience_flask._lifecycle import shutdown_all

MakeApp = Callable[..., Flask]
BIN = Path(sys.executable).parent

#: An app whose store notes in $MARKER each time it is closed.
APP_MODULE = textwrap.dedent(
    """
    import os
    from flask import Flask
    from pyresilience.stores import MemoryStore
    from pyresilience_flask import Resilience

    class RecordingStore(MemoryStore):
        def close(self):
            with open(os.environ["MARKER"], "a") as out:
                out.write(f"closed by {os.getpid()}\\n")
            super().close()

    resilience = Resilience()
    app = Flask("exiting")
    app.config["RESILIENCE_STORE"] = RecordingStore()
    app.config["RESILIENCE_POLICIES"] = {"dep": {"retry": {"max_attempts": 2}}}
    resilience.init_app(app)

    @app.get("/health")
    def health():
        return resilience.call("dep", lambda: "ok")
    """
)


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    """A directory holding ``exiting_app.py``."""
    (tmp_path / "exiting_app.py").write_text(APP_MODULE)
    return tmp_path


def closes(marker: Path) -> list[str]:
    return marker.read_text().splitlines() if marker.exists() else []


def serve_then_stop(command: Sequence[str], cwd: Path, port: int, sig: int) -> None:
    """Start a server, wait until it answers, then stop it with ``sig``."""
    process = subprocess.Popen(
        list(command),
        cwd=cwd,
        env={**os.environ, "MARKER": str(cwd / "closed.txt")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                assert response.text == "ok"
                break
            except httpx.TransportError:
                assert process.poll() is None, "server exited before answering"
                assert time.monotonic() < deadline, "server never answered"
                time.sleep(0.05)
        process.send_signal(sig)
        assert process.wait(15) is not None
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_shutdown_all_closes_every_open_registry(make_app: MakeApp) -> None:
    """The exit hook shuts down the registries of live apps."""
    apps = [make_app("a"), make_app("b")]
    registries = [app.extensions[EXTENSION_KEY] for app in apps]

    shutdown_all(timeout=1.0)

    assert [registry.is_open for registry in registries] == [False, False]


def test_registry_is_shut_down_when_a_script_ends(app_dir: Path) -> None:
    """A process that simply ends closes its app's store exactly once."""
    subprocess.run(
        [sys.executable, "-c", "import exiting_app"],
        cwd=app_dir,
        env={**os.environ, "MARKER": str(app_dir / "closed.txt")},
        check=True,
        timeout=60,
    )

    assert len(closes(app_dir / "closed.txt")) == 1


@pytest.mark.slow
def test_dev_server_stopped_with_ctrl_c_shuts_the_registry(app_dir: Path) -> None:
    """Ctrl-C (SIGINT) on ``flask run`` shuts the registry down on the way out."""
    port = free_port()
    command = [str(BIN / "flask"), "--app", "exiting_app", "run", "--port", str(port)]

    serve_then_stop(command, app_dir, port, signal.SIGINT)

    assert len(closes(app_dir / "closed.txt")) == 1


@pytest.mark.slow
def test_each_gunicorn_worker_shuts_its_registry_on_sigterm(app_dir: Path) -> None:
    """A graceful gunicorn stop (SIGTERM) closes the store in every worker."""
    port = free_port()
    command = [str(BIN / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}"]
    command += ["exiting_app:app"]

    serve_then_stop(command, app_dir, port, signal.SIGTERM)

    lines = closes(app_dir / "closed.txt")
    assert len(lines) == 2
    assert len(set(lines)) == 2, "each worker closes its own registry"

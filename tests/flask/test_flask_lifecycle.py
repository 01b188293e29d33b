"""The registry of every app is shut down when the process exits cleanly."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

from flask import Flask
from pyresilience_flask import EXTENSION_KEY
from pyresilience_flask._lifecycle import shutdown_all

MakeApp = Callable[..., Flask]

SCRIPT = textwrap.dedent(
    """
    import sys
    from flask import Flask
    from pyresilience.stores import MemoryStore
    from pyresilience_flask import Resilience

    class RecordingStore(MemoryStore):
        def close(self):
            with open(sys.argv[1], "a") as out:
                out.write("closed\\n")
            super().close()

    resilience = Resilience()
    app = Flask("exiting")
    app.config["RESILIENCE_STORE"] = RecordingStore()
    app.config["RESILIENCE_POLICIES"] = {"dep": {"retry": {"max_attempts": 2}}}
    resilience.init_app(app)
    with app.app_context():
        assert resilience.call("dep", lambda: 41) + 1 == 42
    """
)


def test_shutdown_all_closes_every_open_registry(make_app: MakeApp) -> None:
    """The exit hook shuts down the registries of live apps."""
    apps = [make_app("a"), make_app("b")]
    registries = [app.extensions[EXTENSION_KEY] for app in apps]

    shutdown_all(timeout=1.0)

    assert [registry.is_open for registry in registries] == [False, False]


def test_registry_is_shut_down_when_the_process_exits(tmp_path: Path) -> None:
    """A process that exits normally closes its app's store exactly once."""
    marker = tmp_path / "closed.txt"

    subprocess.run(
        [sys.executable, "-c", SCRIPT, str(marker)],
        check=True,
        timeout=60,
        capture_output=True,
    )

    assert marker.read_text() == "closed\n"

"""Flask extension for pyresilience: named policies configured in ``app.config``.

::

    from pyresilience_flask import Resilience

    resilience = Resilience()

    def create_app():
        app = Flask(__name__)
        app.config["RESILIENCE_POLICIES"] = {
            "payment-api": {"retry": {"max_attempts": 3}},
        }
        resilience.init_app(app)
        return app

Then ``resilience.call("payment-api", fn, ...)``, ``@resilience.protect(name)``
on any function, or ``@resilience.guard(name)`` on a view.
"""

from __future__ import annotations

from ._constants import EXTENSION_KEY, ConfigKeys
from ._extension import Resilience

__all__ = ["ConfigKeys", "EXTENSION_KEY", "Resilience"]

# Show the public path in reprs and tracebacks.
ConfigKeys.__module__ = __name__
Resilience.__module__ = __name__

"""Loading policies from plain mappings (settings files, ``app.config``).

See :mod:`pyresilience._loader` for the format. :func:`pass_through` is the
tool web adapters use to let a framework's own answers (``abort(404)``,
``Http404``) through a policy untouched.
"""

from __future__ import annotations

from ._exceptions import ConfigError
from ._loader import load_config, load_policies, load_store, parse_duration
from ._passthrough import pass_through

__all__ = [
    "ConfigError",
    "load_config",
    "load_policies",
    "load_store",
    "parse_duration",
    "pass_through",
]

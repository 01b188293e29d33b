"""Loading policies from plain mappings (settings files, ``app.config``).

See :mod:`pyresilience._loader` for the format.
"""

from __future__ import annotations

from ._exceptions import ConfigError
from ._loader import load_config, load_policies, load_store, parse_duration

__all__ = [
    "ConfigError",
    "load_config",
    "load_policies",
    "load_store",
    "parse_duration",
]

"""Entry point: ``python -m benchmarks``."""

from ._cli import main

raise SystemExit(main())

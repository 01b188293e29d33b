"""The demo behind ``python -m pyresilience demo``.

A flaky HTTP service on 127.0.0.1 (:mod:`.upstream`), load generators that
call it through registry policies and without protection (:mod:`.lanes`),
and scenes that each tell one part of the story: the core policies, each
web adapter's example app, and a breaker shared through Redis by several
worker processes (:mod:`.scenes`). :mod:`.report` turns the results into
text; :mod:`.runner` runs the scenes within the time budget.

Nothing here is public API: the package exists so the demo is real code
with tests, not a script.
"""

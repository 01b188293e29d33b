"""pyresilience.contrib.http: status predicates and Retry-After delays."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from pyresilience import RetryConfig, resilient
from pyresilience.contrib.http import (
    parse_retry_after,
    retry_after_delay,
    retry_on_status,
)
from pyresilience.testing import FakeClock


@dataclass
class Response:
    status_code: int
    headers: dict[str, str] = field(default_factory=dict)


class HTTPError(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def test_retry_on_status() -> None:
    """The predicate matches only the listed status codes."""
    predicate = retry_on_status(429, 503)
    assert predicate(Response(503)) and predicate(Response(429))
    assert not predicate(Response(200)) and not predicate(object())
    with pytest.raises(ValueError):
        retry_on_status(99)
    with pytest.raises(ValueError):
        retry_on_status()


def test_retry_after_seconds_and_http_date() -> None:
    """Delta-seconds and HTTP dates both become seconds to wait."""
    now = 1_700_000_000.0
    assert parse_retry_after("7") == 7.0
    date = "Tue, 14 Nov 2023 22:13:40 GMT"  # now + 20 s
    assert parse_retry_after(date, now=lambda: now) == pytest.approx(20.0)
    assert parse_retry_after("garbage") is None


def test_retry_after_delay_from_response_and_exception() -> None:
    """The delay comes from a response, an exception's response, or retry_after."""
    delay = retry_after_delay(max_wait=10.0)
    assert delay(1, Response(429, {"Retry-After": "3"})) == 3.0
    assert delay(1, HTTPError(Response(503, {"Retry-After": "60"}))) == 10.0
    error = ConnectionError()
    error.retry_after = 2  # type: ignore[attr-defined]
    assert delay(1, error) == 2.0
    assert delay(1, Response(500)) is None


def test_end_to_end_with_retry_config() -> None:
    """A 429 with Retry-After sleeps as asked, then the retry succeeds."""
    clock = FakeClock()
    responses = iter([Response(429, {"Retry-After": "2"}), Response(200)])
    fetch = resilient(
        retry=RetryConfig(
            max_attempts=3,
            retry_on_result=retry_on_status(429),
            delay_func=retry_after_delay(30),
        ),
        clock=clock,
    )(lambda: next(responses))
    assert fetch().status_code == 200
    assert clock.sleeps == [2.0]

"""Small HTTP helpers the app-driving scenes share."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = ["Answer", "Upstream", "burst", "get"]


@dataclass(frozen=True)
class Answer:
    """One HTTP answer as the report shows it (status 0: no answer)."""

    status: int
    retry_after: str | None = None
    body: Any = None
    error: str = ""


def get(client: httpx.Client, path: str) -> Answer:
    """``GET path`` and keep status, ``Retry-After`` and the JSON body."""
    try:
        response = client.get(path)
    except httpx.HTTPError as exc:
        return Answer(0, error=f"{type(exc).__name__}: {exc}")
    try:
        body = response.json()
    except ValueError:
        body = response.text[:200]
    return Answer(response.status_code, response.headers.get("Retry-After"), body)


def burst(base_url: str, path: str, count: int) -> list[Answer]:
    """Send ``count`` concurrent ``GET path`` requests, one connection each."""

    def one(_: int) -> Answer:
        with httpx.Client(base_url=base_url, timeout=5.0) as client:
            return get(client, path)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


class Upstream:
    """Switches the flaky upstream's mode and reads its request count."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._client = httpx.Client(base_url=url, timeout=5.0)

    def set_mode(self, mode: str, **params: Any) -> None:
        """``POST /_control`` with ``{"mode": mode, **params}``."""
        response = self._client.post("/_control", json={"mode": mode, **params})
        response.raise_for_status()

    def requests(self) -> int:
        """Return how many ``/quote`` requests it has received in all."""
        total: int = self._client.get("/_stats").json()["total"]
        return total

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

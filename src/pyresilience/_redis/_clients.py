"""Building the sync and async redis-py clients a store talks through."""

from __future__ import annotations

import contextlib
import inspect
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.asyncio
from redis.backoff import NoBackoff

__all__ = [
    "abandon_async",
    "async_twin",
    "check_url",
    "describe_url",
    "make_async",
    "make_sync",
    "sync_twin",
]

# Connection settings that mean the same to the sync and the async client,
# copied when only one of the two was handed to the store. A credential
# provider serves both (it has sync and async methods); without it, a
# server that needs a password refuses the twin.
_SHARED_KWARGS = (
    "host",
    "port",
    "db",
    "username",
    "password",
    "credential_provider",
    "protocol",
    "client_name",
    "ssl_keyfile",
    "ssl_certfile",
    "ssl_cert_reqs",
    "ssl_ca_certs",
    "ssl_ca_data",
    "ssl_ca_path",
    "ssl_password",
    "ssl_min_version",
    "ssl_ciphers",
    "ssl_check_hostname",
)


def _no_retry(kind: type[Any]) -> Any:
    # redis-py retries a failed command up to 10 times by default; the store
    # wants one short try and its own back-off instead.
    return kind(NoBackoff(), 0)


def make_sync(url: str, timeout: float) -> redis.Redis:
    """Return a sync client for ``url`` with short timeouts and no retries."""
    from redis.retry import Retry

    return redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=_no_retry(Retry),
    )


def make_async(url: str, timeout: float) -> redis.asyncio.Redis:
    """Return an async client for ``url`` with short timeouts and no retries."""
    from redis.asyncio.retry import Retry

    return redis.asyncio.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=_no_retry(Retry),
    )


def _kwargs_of(client: Any, twin: type[Any]) -> dict[str, Any]:
    pool = client.connection_pool
    given = pool.connection_kwargs
    # Older redis-py releases lack some settings on one side.
    known = inspect.signature(twin.__init__).parameters
    shared = (key for key in _SHARED_KWARGS if key in given and key in known)
    kwargs = {key: given[key] for key in shared}
    if "path" in given:
        kwargs["unix_socket_path"] = given["path"]
    if "SSL" in getattr(pool, "connection_class", type(None)).__name__:
        kwargs["ssl"] = True
    return kwargs


def sync_twin(client: Any, timeout: float) -> redis.Redis:
    """Return a sync client for the server an async ``client`` talks to."""
    from redis.retry import Retry

    return redis.Redis(
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=_no_retry(Retry),
        **_kwargs_of(client, redis.Redis),
    )


def async_twin(client: Any, timeout: float) -> redis.asyncio.Redis:
    """Return an async client for the server a sync ``client`` talks to."""
    from redis.asyncio.retry import Retry

    return redis.asyncio.Redis(
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=_no_retry(Retry),
        **_kwargs_of(client, redis.asyncio.Redis),
    )


def abandon_async(client: Any) -> None:
    """Close the sockets of an async client whose event loop is closed.

    Its connections can no longer be closed with ``await``, and a transport
    of a closed loop cannot close itself (it schedules the close on that
    loop). Close the socket underneath instead, so it is not leaked.
    """
    pool = client.connection_pool
    connections = [
        *getattr(pool, "_available_connections", ()),
        *getattr(pool, "_in_use_connections", ()),
    ]
    for connection in connections:
        writer = getattr(connection, "_writer", None)
        if writer is None:
            continue
        _close_transport(writer.transport)
        connection._writer = connection._reader = None


def _close_transport(transport: Any) -> None:
    # asyncio's selector transports keep the socket in ``_sock`` and warn in
    # their finaliser while it is set, as does the stream writer while the
    # transport is not closing. Other transports (TLS, uvloop) are left to
    # their own finalisers.
    sock = getattr(transport, "_sock", None)
    if sock is None:
        return
    with contextlib.suppress(OSError):
        sock.close()
    transport._sock = None
    transport._closing = True


def check_url(url: str) -> None:
    """Raise ``ValueError`` if redis-py could not connect with ``url``."""
    from redis.connection import parse_url

    parse_url(url)  # type: ignore[no-untyped-call]


def describe_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{user}:***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

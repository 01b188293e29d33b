"""Running a Lua script by its SHA1, loading it once when the server lacks it."""

from __future__ import annotations

import hashlib
from typing import Any

from redis.exceptions import NoScriptError

__all__ = ["Script"]


class Script:
    """One Lua script, sent as ``EVALSHA`` and re-loaded on ``NOSCRIPT``.

    A restarted or flushed server forgets its scripts; the first call after
    that gets ``NOSCRIPT``, loads the source and runs it again.

    Args:
        source: The Lua source.
    """

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    def run(self, client: Any, numkeys: int, keys_and_args: tuple[Any, ...]) -> Any:
        """Run the script on a sync ``redis.Redis`` client and return its reply."""
        try:
            return client.execute_command("EVALSHA", self.sha, numkeys, *keys_and_args)
        except NoScriptError:
            client.script_load(self.source)
            return client.execute_command("EVALSHA", self.sha, numkeys, *keys_and_args)

    async def arun(
        self, client: Any, numkeys: int, keys_and_args: tuple[Any, ...]
    ) -> Any:
        """Run the script on a ``redis.asyncio.Redis`` client."""
        try:
            return await client.execute_command(
                "EVALSHA", self.sha, numkeys, *keys_and_args
            )
        except NoScriptError:
            await client.script_load(self.source)
            return await client.execute_command(
                "EVALSHA", self.sha, numkeys, *keys_and_args
            )

    def __repr__(self) -> str:
        return f"Script(sha={self.sha[:12]!r})"

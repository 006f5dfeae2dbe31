"""A short-lived cache of locally stored id tags.

Authorize, StartTransaction and StopTransaction each look the tag up; at a few thousand messages
a second those reads would dominate. Entries live for ``ttl`` seconds
(``ocpp.id_tag_cache_seconds``)
and are dropped at once when the hub itself changes a tag; a change made by another process (the
CLI, another node) takes effect within ``ttl``. Chargers cache authorisations far longer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

_MISSING = object()


class IdTagCache:
    def __init__(self, ttl: float = 5.0, max_entries: int = 100_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, Any]] = {}
        # Id tag -> its database read in flight, shared by concurrent lookups
        # (hub.services.authorization).
        self.reading: dict[str, asyncio.Future[Any]] = {}
        self.hits = 0
        self.misses = 0

    def get(self, id_tag: str) -> Any:
        """The cached row (None = known not to be stored locally), or ``MISSING``."""
        entry = self._entries.get(id_tag)
        if entry is None or entry[0] < time.monotonic():
            self.misses += 1
            return _MISSING
        self.hits += 1
        return entry[1]

    def put(self, id_tag: str, row: Any) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[id_tag] = (time.monotonic() + self.ttl, row)

    def forget(self, id_tags: Iterable[str] | None = None) -> None:
        """Drop the given tags (all tags when None)."""
        if id_tags is None:
            self._entries.clear()
            return
        for tag in id_tags:
            self._entries.pop(tag, None)


MISSING = _MISSING

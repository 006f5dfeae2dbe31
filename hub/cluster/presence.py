"""Presence: which node holds which station's socket, in a NATS JetStream key-value bucket.

One entry per connected station, ``{"node": node_id, "v": ocpp_version}``, written when the
connect is committed, refreshed every third of the bucket's TTL while the socket lives (a
compare-and-set on the revision this node wrote), deleted on disconnect if it is still this
node's. A dead node's entries expire with the TTL.

Every node watches the bucket and keeps a local mirror (what ``is_connected`` and routing read
without a round trip). When the mirror shows a newer entry of a station this node still holds,
another node took it over: this node closes its stale socket without recording a disconnect
(the "second connection replaces the first" rule, across nodes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError

if TYPE_CHECKING:
    from nats.js.client import JetStreamContext
    from nats.js.kv import KeyValue

    from hub.ocpp_server.registry import StationRegistry

log = logging.getLogger(__name__)
_KEY_SAFE = re.compile(r"[A-Za-z0-9_-]")
_ALL_SAFE = re.compile(r"[A-Za-z0-9_-]+")
REFRESH_CHUNK = 200


def station_key(station_id: str) -> str:
    """A KV key for a station id: safe characters as they are, others as ``=XX`` (``=`` itself
    is never kept, so two ids never share a key)."""
    if _ALL_SAFE.fullmatch(station_id):
        return station_id  # most ids: one match, not one per character
    return "".join(c if _KEY_SAFE.fullmatch(c) else "".join(f"={b:02X}" for b in c.encode())
                   for c in station_id)


def station_of_key(key: str) -> str:
    raw = bytearray()
    i = 0
    while i < len(key):
        if key[i] == "=":
            raw.append(int(key[i + 1:i + 3], 16))
            i += 3
        else:
            raw.extend(key[i].encode())
            i += 1
    return raw.decode()


@dataclass
class Holder:
    node: str
    ocpp_version: str
    revision: int
    seen: float  # monotonic time the entry was written or refreshed (as this node saw it)


class Presence:
    def __init__(self, node_id: str, bucket: str, ttl: float, registry: StationRegistry) -> None:
        self.node_id = node_id
        self.bucket = bucket
        self.ttl = ttl
        self._registry = registry
        self._kv: KeyValue | None = None
        # station -> the revision of this node's entry for it
        self._held: dict[str, int] = {}
        self._where: dict[str, Holder] = {}
        self._watcher: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self.takeovers = 0

    # -- lifecycle ----------------------------------------------------------------------------

    async def open(self, js: JetStreamContext) -> None:
        """Open (or create) the bucket and start watching it and refreshing this node's
        entries. Called again after NATS comes back."""
        await self.close_watch()
        try:
            self._kv = await js.key_value(self.bucket)
        except BucketNotFoundError:
            self._kv = await js.create_key_value(bucket=self.bucket, ttl=self.ttl, history=1)
        self._watcher = await self._kv.watchall()
        self._tasks = [asyncio.create_task(self._watch(self._watcher), name="presence-watch"),
                       asyncio.create_task(self._refresh_forever(), name="presence-refresh")]
        # What this node held while NATS was away is written again at once.
        await self.refresh()

    async def close_watch(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._watcher is not None:
            with contextlib.suppress(Exception):
                await self._watcher.stop()
            self._watcher = None

    async def close(self) -> None:
        """Shutting down: this node's entries go (its stations will reconnect elsewhere)."""
        await self.close_watch()
        for station_id in list(self._held):
            await self.release(station_id)

    # -- this node's stations -----------------------------------------------------------------

    def _value(self, station_id: str) -> bytes | None:
        session = self._registry.get(station_id)
        if session is None:
            return None
        return orjson.dumps({"node": self.node_id, "v": session.ocpp_version})

    async def claim(self, station_id: str) -> None:
        """The station's connect is committed on this node: it is held here."""
        value = self._value(station_id)
        if value is None or self._kv is None:
            return  # gone already, or NATS is away (the refresh after it returns writes it)
        self._held[station_id] = 0
        try:
            self._held[station_id] = await self._kv.put(station_key(station_id), value)
        except Exception as exc:
            log.debug("presence of %s not written (%s); the refresh retries", station_id, exc)

    async def release(self, station_id: str) -> None:
        revision = self._held.pop(station_id, None)
        if revision is None or self._kv is None:
            return
        if not revision:
            return  # never written (NATS was away): nothing of this node's to delete
        with contextlib.suppress(Exception):  # a newer entry (another node's) stays
            await self._kv.delete(station_key(station_id), last=revision)

    async def refresh(self) -> None:
        stations = list(self._held)
        for start in range(0, len(stations), REFRESH_CHUNK):
            await asyncio.gather(*(self._refresh_one(s)
                                   for s in stations[start:start + REFRESH_CHUNK]))

    async def _refresh_one(self, station_id: str) -> None:
        value = self._value(station_id)
        if value is None:
            self._held.pop(station_id, None)
            return
        kv, key = self._kv, station_key(station_id)
        if kv is None:
            return
        revision = self._held.get(station_id, 0)
        try:
            if revision:
                self._held[station_id] = await kv.update(key, value, last=revision)
            else:
                self._held[station_id] = await kv.put(key, value)
            return
        except KeyWrongLastSequenceError:
            pass
        except Exception as exc:
            log.debug("presence refresh of %s failed: %s", station_id, exc)
            return
        # Someone wrote after this node: another node took the station over, or the entry
        # expired (NATS was away longer than the TTL).
        try:
            entry = await kv.get(key)
        except KeyNotFoundError:
            entry = None
        holder = _decode(entry.value) if entry is not None and entry.value else None
        if holder is not None and holder.get("node") != self.node_id:
            await self._replaced(station_id)
            return
        with contextlib.suppress(Exception):
            self._held[station_id] = await kv.put(key, value)

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                await self.refresh()
            except Exception:
                log.exception("refreshing station presence failed")

    async def _replaced(self, station_id: str) -> None:
        """Another node holds the station now: close this node's socket, record nothing (the
        new holder recorded the connect)."""
        self._held.pop(station_id, None)
        session = self._registry.get(station_id)
        if session is None or not self._registry.remove(session):
            return
        self.takeovers += 1
        log.info("%s reconnected to another hub node; closing its connection here", station_id)
        session.connection_closed()
        with contextlib.suppress(Exception):
            await session.ws.close(code=1000, message=b"replaced by a connection to another node")

    # -- the mirror ---------------------------------------------------------------------------

    async def _watch(self, watcher: Any) -> None:
        async for entry in watcher:
            if entry is None:
                continue  # the end of the initial values
            try:
                await self._seen(entry)
            except Exception:
                log.exception("presence update %r not applied", getattr(entry, "key", None))

    async def _seen(self, entry: Any) -> None:
        station_id = station_of_key(entry.key)
        if entry.operation in ("DEL", "PURGE") or not entry.value:
            current = self._where.get(station_id)
            if current is not None and current.revision <= entry.revision:
                del self._where[station_id]
            return
        value = _decode(entry.value)
        if value is None:
            return
        holder = Holder(str(value.get("node")), str(value.get("v")), entry.revision,
                        time.monotonic())
        self._where[station_id] = holder
        held = self._held.get(station_id)  # 0: this node's own write is still in flight
        if holder.node != self.node_id and held and entry.revision > held:
            await self._replaced(station_id)

    def holder(self, station_id: str) -> Holder | None:
        """Where the station is held as far as this node knows (None: nowhere, or its
        entry is older than the TTL: that node stopped refreshing it)."""
        holder = self._where.get(station_id)
        if holder is None or time.monotonic() - holder.seen > self.ttl:
            return None
        return holder

    async def lookup(self, station_id: str) -> Holder | None:
        """``holder``, else the bucket itself (a connect the watch has not delivered yet)."""
        holder = self.holder(station_id)
        if holder is not None or self._kv is None:
            return holder
        try:
            entry = await self._kv.get(station_key(station_id))
        except KeyNotFoundError:
            return None
        value = _decode(entry.value) if entry.value else None
        if value is None:
            return None
        return Holder(str(value.get("node")), str(value.get("v")), entry.revision or 0,
                      time.monotonic())

    def forget(self, station_id: str, node: str) -> None:
        holder = self._where.get(station_id)
        if holder is not None and holder.node == node:
            del self._where[station_id]

    def stations_of(self, node: str) -> list[str]:
        return [s for s, h in self._where.items() if h.node == node]


def _decode(value: bytes) -> dict[str, Any] | None:
    try:
        decoded = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    return decoded if isinstance(decoded, dict) else None

"""Presence: which node holds which station's socket, in a NATS JetStream key-value bucket.

One entry per connected station, ``{"node": node_id, "v": ocpp_version, "c": connect}``,
written once when the connect is committed (again only after NATS was away) and deleted on
disconnect if it is still this node's. ``c`` tells one connect from the next, so the other
nodes hear each connect once, from the bucket's watch (``on_connect``), not from a forwarded
StationConnected event as well; and each disconnect from the entry's delete
(``on_disconnect``), not from a forwarded StationDisconnected.

A connect's entry is published without waiting for JetStream's acknowledgement (a request and
its reply per connect were a third of what clustering cost a boot storm): this node learns the
entry's revision from its own watch, which delivers the bucket's writes in the order they were
stored, so a takeover is still told by the revisions. A station that disconnects before its
entry came back through the watch has the entry deleted when it does.

Entries carry no TTL: rewriting every entry every third of a TTL was most of a node's NATS
traffic at 6,000 stations. Instead an entry counts while its node is alive: every node says so
on ``N.alive`` every second (hub.cluster.node), and the node holding the ``presence-sweep``
lease deletes the entries of a node silent for a presence TTL (hub.cluster.sweep).

Every node watches the bucket and keeps a local mirror (what ``is_connected`` and routing read
without a round trip). When the mirror shows a newer entry of a station this node still holds,
another node took it over: this node closes its stale socket without recording a disconnect
(the "second connection replaces the first" rule, across nodes).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError

if TYPE_CHECKING:
    from nats.aio.client import Client as NatsClient
    from nats.js.kv import KeyValue

    from hub.ocpp_server.registry import StationRegistry

log = logging.getLogger(__name__)
_KEY_SAFE = re.compile(r"[A-Za-z0-9_-]")
_ALL_SAFE = re.compile(r"[A-Za-z0-9_-]+")
#: Entries written or deleted at once (concurrent requests on the one NATS connection).
CHUNK = 200
#: Connects released before their entry came back through the watch, remembered at most (an
#: entry lost on its way never comes back: the oldest are forgotten).
MAX_UNSEEN_RELEASES = 10_000


def station_key(station_id: str) -> str:
    """A KV key for a station id: safe characters as they are, others as ``=XX`` (``=`` itself
    is never kept, so two ids never share a key)."""
    if _ALL_SAFE.fullmatch(station_id):
        return station_id  # most ids: one match, not one per character
    return "".join(c if _KEY_SAFE.fullmatch(c) else "".join(f"={b:02X}" for b in c.encode())
                   for c in station_id)


def station_of_key(key: str) -> str:
    if "=" not in key:
        return key  # most keys (station_key kept the id as it is): no walk per character
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
    connect: str = ""  # which connect of the station wrote the entry


ConnectHandler = Callable[[str, Holder], Awaitable[None]]
DisconnectHandler = Callable[[str, Holder], Awaitable[None]]
# Connect tokens: unique across this node's restarts too (a configured node id is reused).
_connects = itertools.count(time.time_ns())


class Presence:
    def __init__(self, node_id: str, bucket: str, registry: StationRegistry,
                 on_connect: ConnectHandler | None = None,
                 on_disconnect: DisconnectHandler | None = None) -> None:
        self.node_id = node_id
        self.bucket = bucket
        self._registry = registry
        self._on_connect = on_connect
        self._on_disconnect = on_disconnect
        self._kv: KeyValue | None = None
        self._nc: NatsClient | None = None
        # station -> the revision of this node's entry for it (0: not back from the watch
        # yet, or not written: NATS was away)
        self._held: dict[str, int] = {}
        self._connect: dict[str, str] = {}  # station -> its connect token here
        # connect token -> station: released before its entry came back (deleted when it does)
        self._unseen_releases: OrderedDict[str, str] = OrderedDict()
        self._where: dict[str, Holder] = {}
        self._watcher: Any = None
        self._replaying = False  # the watch is delivering the bucket's current entries
        self._tasks: list[asyncio.Task[None]] = []
        self.takeovers = 0

    # -- lifecycle ----------------------------------------------------------------------------

    async def open(self, nc: NatsClient) -> None:
        """Open (or create) the bucket and start watching it. Called again after NATS comes
        back."""
        await self.close_watch()
        self._nc = nc  # a connect's entry is published on it (claim)
        js = nc.jetstream()
        try:
            self._kv = await js.key_value(self.bucket)
        except BucketNotFoundError:
            self._kv = await js.create_key_value(bucket=self.bucket, history=1)
        self._replaying = True
        self._watcher = await self._kv.watchall()
        self._tasks = [asyncio.create_task(self._watch(self._watcher), name="presence-watch")]
        # What this node held while NATS was away is written again at once (an entry that is
        # still there is left as it is).
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
        """Shutting down: this node's entries go (its stations will reconnect elsewhere),
        many deletes in flight at once rather than one round trip each."""
        await self.close_watch()
        if self._nc is not None and any(not revision for revision in self._held.values()):
            with contextlib.suppress(Exception):
                await self._nc.flush()  # the entries published last are stored
        await _in_chunks(self._leave, list(self._held))

    async def _leave(self, station_id: str) -> None:
        """``release`` at shutdown, when the watch no longer delivers revisions: an entry not
        back from it yet is read from the bucket (and deleted if it is still this connect's)."""
        connect = self._connect.get(station_id)
        if not self._held.get(station_id) and connect and self._kv is not None:
            with contextlib.suppress(Exception):
                entry = await self._kv.get(station_key(station_id))
                value = _decode(entry.value) if entry.value else None
                if value is not None and value.get("node") == self.node_id and \
                        value.get("c") == connect and entry.revision:
                    self._held[station_id] = entry.revision
        await self.release(station_id)

    # -- this node's stations -----------------------------------------------------------------

    def _value(self, station_id: str) -> bytes | None:
        session = self._registry.get(station_id)
        if session is None:
            return None
        return orjson.dumps({"node": self.node_id, "v": session.ocpp_version,
                             "c": self._connect.get(station_id, "")})

    async def claim(self, station_id: str) -> None:
        """The station's connect is committed on this node: it is held here. Its entry is
        published without waiting for an acknowledgement; its revision comes from the watch."""
        self._connect[station_id] = format(next(_connects), "x")
        value = self._value(station_id)
        if value is None:
            self._connect.pop(station_id, None)
            return  # gone already
        self._held[station_id] = 0
        if self._kv is None or self._nc is None:
            return  # NATS is away: the refresh after it returns writes it
        try:
            await self._nc.publish(f"$KV.{self.bucket}.{station_key(station_id)}", value)
        except Exception as exc:
            log.debug("presence of %s not written (%s); the refresh retries", station_id, exc)

    async def release(self, station_id: str) -> bool:
        """The station's connection here ended: delete this node's entry for it, if it is still
        the newest (a takeover's stays). True when the other nodes hear of it from the delete;
        False when there was no entry of this node's to delete (NATS was away)."""
        revision = self._held.pop(station_id, None)
        connect = self._connect.pop(station_id, None)
        if revision is None or self._kv is None:
            return False
        if not revision:
            if connect is None or self._nc is None:
                return False
            # Published, not back from the watch yet (or lost): deleted when it comes back.
            self._unseen_releases[connect] = station_id
            while len(self._unseen_releases) > MAX_UNSEEN_RELEASES:
                self._unseen_releases.popitem(last=False)
            return True
        with contextlib.suppress(Exception):  # a newer entry (another node's) stays
            await self._kv.delete(station_key(station_id), last=revision)
        return True

    async def refresh(self) -> None:
        """Write this node's entries again where they are missing or not its own (after NATS
        was away: a takeover meanwhile is found here)."""
        await _in_chunks(self._refresh_one, list(self._held))

    async def _refresh_one(self, station_id: str) -> None:
        value = self._value(station_id)
        if value is None:
            self._held.pop(station_id, None)
            self._connect.pop(station_id, None)
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

    async def _replaced(self, station_id: str) -> None:
        """Another node holds the station now: close this node's socket, record nothing (the
        new holder recorded the connect)."""
        self._held.pop(station_id, None)
        self._connect.pop(station_id, None)
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
                self._replaying = False  # the end of the initial values
                continue
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
                if current.node != self.node_id and self._on_disconnect is not None:
                    await self._on_disconnect(station_id, current)
            return
        value = _decode(entry.value)
        if value is None:
            return
        holder = Holder(str(value.get("node")), str(value.get("v")), entry.revision,
                        str(value.get("c", "")))
        before = self._where.get(station_id)
        self._where[station_id] = holder
        if holder.node == self.node_id:
            await self._own_entry(station_id, holder)
            return
        held = self._held.get(station_id)  # 0: this node's own entry is not back yet
        if held and entry.revision > held:
            await self._replaced(station_id)
        if self._on_connect is not None and _new_connect(before, holder, self._replaying):
            await self._on_connect(station_id, holder)

    async def _own_entry(self, station_id: str, holder: Holder) -> None:
        """This node's entry, back from the watch: its revision is what a takeover's must
        exceed and what the disconnect deletes."""
        if holder.connect and self._connect.get(station_id) == holder.connect:
            if holder.revision > self._held.get(station_id, 0):
                self._held[station_id] = holder.revision
        elif self._unseen_releases.pop(holder.connect, None) == station_id and \
                self._kv is not None:
            # The station disconnected before its entry came back: delete it now, unless a
            # newer entry (a reconnect, here or elsewhere) followed it.
            with contextlib.suppress(Exception):
                await self._kv.delete(station_key(station_id), last=holder.revision)

    def holder(self, station_id: str) -> Holder | None:
        """Where the station is held as far as this node knows (None: nowhere). Whether that
        node is alive is the caller's question (hub.cluster.node.ClusterNode.alive)."""
        return self._current(station_id, self._where.get(station_id))

    def _current(self, station_id: str, holder: Holder | None) -> Holder | None:
        if holder is not None and holder.node == self.node_id and station_id not in self._held:
            return None  # written by this node before it restarted (a configured node id)
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
        return self._current(station_id, Holder(str(value.get("node")), str(value.get("v")),
                                                entry.revision or 0, str(value.get("c", ""))))

    def forget(self, station_id: str, node: str) -> None:
        holder = self._where.get(station_id)
        if holder is not None and holder.node == node:
            del self._where[station_id]

    def stations_of(self, node: str) -> list[str]:
        return [s for s, h in self._where.items() if h.node == node]

    async def purge(self, gone: Callable[[str], bool]) -> int:
        """Delete the entries of nodes ``gone`` says are gone, and this node's from before a
        restart (the sweep's work, on one node): nothing else would, as entries have no TTL.
        Each delete is conditional on the revision seen, so a takeover meanwhile stays."""
        stale = [(s, h.revision) for s, h in list(self._where.items())
                 if (h.node != self.node_id and gone(h.node))
                 or (h.node == self.node_id and s not in self._held)]
        kv = self._kv
        if kv is None or not stale:
            return 0

        async def delete(item: tuple[str, int]) -> None:
            with contextlib.suppress(Exception):
                await kv.delete(station_key(item[0]), last=item[1])

        await _in_chunks(delete, stale)
        log.info("deleted %d presence entries of hub nodes that stopped", len(stale))
        return len(stale)


def _new_connect(before: Holder | None, now: Holder, replaying: bool) -> bool:
    """Is ``now`` a connect the other nodes have not heard of? Not when only the entry was
    written again (NATS came back), nor, while the watch replays the bucket at start-up,
    a connect older than this node."""
    if before is None:
        return not replaying
    return (before.node, before.connect) != (now.node, now.connect)


async def _in_chunks(work: Callable[[Any], Awaitable[None]], items: Iterable[Any]) -> None:
    """``work`` on every item, CHUNK of them in flight at a time."""
    items = list(items)
    for start in range(0, len(items), CHUNK):
        await asyncio.gather(*(work(item) for item in items[start:start + CHUNK]))


def _decode(value: bytes) -> dict[str, Any] | None:
    try:
        decoded = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    return decoded if isinstance(decoded, dict) else None

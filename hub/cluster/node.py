"""A hub node of a cluster: its NATS connection and what rides on it.

Subjects and buckets all start with ``[cluster] name`` (``N``):

- ``N-presence`` (KV bucket): which node holds which station (hub.cluster.presence);
- ``N.call.<node>``: routed commands to that node (request/reply, hub.cluster.routing);
- ``N.event.<EventType>``: committed domain events, for ``hub.cluster.subscribe``;
- ``N.bcast.<topic>``: ``hub.cluster.broadcast``;
- ``N.alive``: each node's heartbeat (a node silent for routing.DEAD_AFTER seconds is dead).

NATS unreachable at start-up or later: the node keeps serving its own stations, commands to
other nodes' stations fail at once (StationUnreachable), events of this period are not
forwarded (they are committed; nothing is lost but the live notice), and the node reconnects
by itself, then writes its presence again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from nats.aio.client import Client as NatsClient

from hub.cluster import BroadcastHandler, E, SingleNode, codec, default_node_id
from hub.cluster.leases import AdvisoryLeases
from hub.cluster.presence import Holder, Presence
from hub.cluster.routing import DEAD_AFTER, HEARTBEAT_SECONDS, NatsRouter
from hub.cluster.sweep import stale_connections
from hub.events import Event, StationConnected, StationDisconnected
from hub.services import stations

if TYPE_CHECKING:
    from hub.config import ClusterConfig
    from hub.context import Hub

log = logging.getLogger(__name__)
_TOKEN_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
CONNECT_RETRY_SECONDS = 2.0
CONNECT_LIMIT_SECONDS = 3.0
REASSERT = "presence-reassert"
#: Stations swept per round by the presence sweep (hub.cluster.sweep).
SWEEP_BATCH = 500
#: What the other nodes hear from presence entries, not from forwarded events.
_FROM_PRESENCE = frozenset({StationConnected, StationDisconnected})


def subject_token(text: str) -> str:
    return _TOKEN_UNSAFE.sub("_", text) or "_"


class ClusterNode(SingleNode):
    clustered = True

    def __init__(self, hub: Hub, config: ClusterConfig) -> None:
        super().__init__(hub.bus, config.node_id or default_node_id())
        self.hub = hub
        self.config = config
        self.nc: NatsClient | None = None
        self.presence = Presence(self.node_id, f"{config.name}-presence", hub.stations,
                                 on_connect=self._remote_connect,
                                 on_disconnect=self._remote_disconnect)
        self.router = NatsRouter(self, hub.commands)
        self.leases = AdvisoryLeases(hub.engine, config.lease_check_seconds)
        self._remote: dict[str, list[Callable[[Any], Awaitable[None]]]] = defaultdict(list)
        self._forwarded: set[type[Event]] = set()
        self._topics: dict[str, list[BroadcastHandler]] = defaultdict(list)
        self._alive: dict[str, float] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._connector: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._linked_since: float | None = None
        self._event_subjects: dict[type[Event], str] = {}
        self.forwarded = 0
        self.received = 0
        self.connects_heard = 0  # other nodes' connects, from their presence entries
        self.disconnects_heard = 0  # and their disconnects, from the entries' deletes

    def subject(self, kind: str, tail: str) -> str:
        return f"{self.config.name}.{kind}.{subject_token(tail)}"

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        self.hub.commands.router = self.router
        self.bus.subscribe(StationConnected, self._station_connected)
        self.bus.subscribe(StationDisconnected, self._station_disconnected)
        self.on_broadcast(REASSERT, self._reassert)
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="presence-sweep")
        log.info("cluster node %s of %s (NATS %s)", self.node_id, self.config.name,
                 self.config.nats_url)
        if not await self._connect():
            log.warning("NATS at %s is not reachable: node %s serves its own stations only, "
                        "and keeps trying", self.config.nats_url, self.node_id)
            self._connector = asyncio.create_task(self._connect_forever(), name="nats-connect")

    async def _connect_forever(self) -> None:
        while True:
            await asyncio.sleep(CONNECT_RETRY_SECONDS)
            if await self._connect():
                break
        log.warning("NATS at %s is reachable again: node %s joined the cluster",
                    self.config.nats_url, self.node_id)

    async def _connect(self) -> bool:
        nc = NatsClient()
        try:
            # Bounded here: with unlimited reconnects, nats-py retries a first connect forever.
            await asyncio.wait_for(nc.connect(
                servers=[s.strip() for s in self.config.nats_url.split(",") if s.strip()],
                name=f"pnc-hub {self.node_id}", connect_timeout=2, reconnect_time_wait=1,
                max_reconnect_attempts=-1, allow_reconnect=True,
                # This node's own events, broadcasts and heartbeats are not sent back to it.
                no_echo=True,
                error_cb=self._nats_error, disconnected_cb=self._nats_disconnected,
                reconnected_cb=self._nats_reconnected), CONNECT_LIMIT_SECONDS)
        except (Exception, TimeoutError) as exc:
            log.debug("NATS connect failed: %r", exc)
            with contextlib.suppress(Exception):
                await nc.close()
            return False
        self.nc = nc
        self._linked_since = time.monotonic()
        await nc.subscribe(self.subject("call", self.node_id), cb=self.router.on_request)
        await nc.subscribe(f"{self.config.name}.event.*", cb=self._on_event)
        await nc.subscribe(f"{self.config.name}.bcast.*", cb=self._on_broadcast)
        await nc.subscribe(f"{self.config.name}.alive", cb=self._on_alive)
        self._heartbeat = asyncio.create_task(self._beat_forever(), name="cluster-heartbeat")
        try:
            await self.presence.open(nc)
        except Exception:
            log.exception("the presence bucket could not be opened; retried on reconnect")
        return True

    async def stop(self) -> None:
        for task in (self._connector, self._heartbeat, self._sweeper):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        await self.router.stop()
        with contextlib.suppress(Exception):
            await self.presence.close()
        if self.nc is not None:
            with contextlib.suppress(Exception):
                await self.nc.drain()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.leases.close()
        self.hub.commands.router = None

    async def _nats_error(self, exc: Exception) -> None:
        log.debug("NATS: %r", exc)

    async def _nats_disconnected(self) -> None:
        self._linked_since = None
        log.warning("NATS connection lost: node %s serves its own stations only until it is "
                    "back (commands to other nodes' stations fail meanwhile)", self.node_id)

    async def _nats_reconnected(self) -> None:
        log.warning("NATS connection back: node %s rejoins the cluster", self.node_id)
        self._linked_since = time.monotonic()
        if self.nc is not None:
            # The watch's consumer may be gone with a restarted server: watch anew, and
            # write this node's presence again.
            self._spawn(self._reopen_presence())

    async def _reopen_presence(self) -> None:
        assert self.nc is not None
        try:
            await self.presence.open(self.nc)
        except Exception:
            log.exception("the presence bucket could not be reopened")

    # -- heartbeats ---------------------------------------------------------------------------

    async def _beat_forever(self) -> None:
        while True:
            if self.nc is not None and self.nc.is_connected:
                with contextlib.suppress(Exception):
                    await self.nc.publish(f"{self.config.name}.alive", self.node_id.encode())
            await asyncio.sleep(HEARTBEAT_SECONDS)

    async def _on_alive(self, message: Any) -> None:
        self._alive[message.data.decode(errors="replace")] = time.monotonic()

    def alive(self, node: str) -> bool:
        if node == self.node_id:
            return True
        seen = self._alive.get(node)
        return seen is not None and time.monotonic() - seen < DEAD_AFTER

    def gone(self, node: str) -> bool:
        """Silent for a whole presence TTL: stopped, not merely slow (a node busy with a
        connect storm can miss DEAD_AFTER; its stations must not be swept for that)."""
        if node == self.node_id:
            return False
        seen = self._alive.get(node)
        return seen is None or time.monotonic() - seen > self.config.presence_ttl

    # -- presence -----------------------------------------------------------------------------

    async def _station_connected(self, event: StationConnected) -> None:
        await self.presence.claim(event.station_id)

    async def _station_disconnected(self, event: StationDisconnected) -> None:
        if event.station_id in self.hub.stations:
            return  # it reconnected here meanwhile
        if not await self.presence.release(event.station_id):
            # No entry of this node's to delete (the presence sweep recording a dead node's
            # station, or NATS was away): the other nodes hear of it from the event itself.
            await self._forward(event)
        holder = self.presence.holder(event.station_id)
        if holder is not None and holder.node != self.node_id and self.alive(holder.node):
            # The old socket here closed only after the station's new connection to another
            # node was recorded: this disconnect overwrote it. The holder records it again.
            await self.broadcast(REASSERT, {"station": event.station_id, "node": holder.node})

    async def _reassert(self, data: dict[str, Any]) -> None:
        station_id = str(data.get("station"))
        session = self.hub.stations.get(station_id)
        if data.get("node") != self.node_id or session is None:
            return
        log.info("%s: recording its connection here again (a stale disconnect from another "
                 "node overwrote it)", station_id)
        await stations.mark_connected(self.hub, station_id, session.ocpp_version,
                                      session.remote, session.registration_status)

    async def _sweep_forever(self) -> None:
        """Once per cluster: stations the database says are connected but no node holds
        (their node died and they did not come back) are recorded as disconnected."""
        while True:
            await asyncio.sleep(self.config.presence_ttl)
            # The mirror is complete once the watch has run for a TTL without a break.
            if self._linked_since is None or \
                    time.monotonic() - self._linked_since < 2 * self.config.presence_ttl:
                continue
            try:
                if await self.lead("presence-sweep"):
                    await stale_connections(self.hub, self.presence, self.gone, SWEEP_BATCH)
                    await self.presence.purge(self.gone)
            except Exception:
                log.exception("the presence sweep failed")

    # -- leases -------------------------------------------------------------------------------

    async def lead(self, name: str) -> bool:
        return await self.leases.lead(name)

    # -- events and broadcasts ----------------------------------------------------------------

    def subscribe(self, event_type: type[E], handler: Callable[[E], Awaitable[None]]) -> None:
        self.bus.subscribe(event_type, handler)
        self._remote[event_type.__name__].append(handler)
        # Another node's connect and disconnect are heard from its presence entry and the
        # entry's delete (_remote_connect, _remote_disconnect): forwarding the events as well
        # announced each twice.
        if event_type not in self._forwarded and event_type not in _FROM_PRESENCE:
            self._forwarded.add(event_type)
            self.bus.subscribe(event_type, self._forward)

    async def _remote_connect(self, station_id: str, holder: Holder) -> None:
        """A connect committed on another node (its presence entry): StationConnected for the
        handlers subscribed through ``subscribe``."""
        self.connects_heard += 1
        self._heard(StationConnected(station_id=station_id, ocpp_version=holder.ocpp_version))

    async def _remote_disconnect(self, station_id: str, holder: Holder) -> None:
        """A disconnect on another node (its presence entry deleted): StationDisconnected for
        the handlers subscribed through ``subscribe``."""
        self.disconnects_heard += 1
        self._heard(StationDisconnected(station_id=station_id))

    def _heard(self, event: Event) -> None:
        """Another node's event, to this node's ``subscribe`` handlers: one task for them all
        (a task per handler per event added up in a storm)."""
        handlers = self._remote.get(type(event).__name__)
        if handlers:
            self._spawn(self._call_all(handlers, event))

    async def _forward(self, event: Event) -> None:
        """A fact committed here, announced to the other nodes (after the commit)."""
        if self.nc is None or not self.nc.is_connected:
            return
        try:
            subject = self._event_subjects.get(type(event))
            if subject is None:
                subject = self._event_subjects[type(event)] = self.subject(
                    "event", type(event).__name__)
            await self.nc.publish(subject, codec.encode_event(self.node_id, event))
            self.forwarded += 1
        except Exception as exc:
            log.debug("event %s not forwarded: %r", type(event).__name__, exc)

    async def _on_event(self, message: Any) -> None:
        try:
            origin, event = codec.decode_event(message.data)
        except codec.MessageRefused as exc:
            log.warning("refused a cluster event: %s", exc)
            return
        if origin == self.node_id:
            return
        self.received += 1
        self._heard(event)

    def on_broadcast(self, topic: str, handler: BroadcastHandler) -> None:
        self._topics[subject_token(topic)].append(handler)

    async def broadcast(self, topic: str, data: dict[str, Any]) -> None:
        if self.nc is None or not self.nc.is_connected:
            return
        with contextlib.suppress(Exception):
            await self.nc.publish(self.subject("bcast", topic),
                                  orjson.dumps({"origin": self.node_id, "data": data}))

    async def _on_broadcast(self, message: Any) -> None:
        try:
            body = orjson.loads(message.data)
            origin, data = body["origin"], body["data"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return
        if origin == self.node_id:
            return
        topic = message.subject.rsplit(".", 1)[-1]
        for handler in self._topics.get(topic, ()):
            self._spawn(self._call(handler, data))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _call(handler: Callable[[Any], Awaitable[None]], arg: Any) -> None:
        try:
            await handler(arg)
        except Exception:
            log.exception("cluster handler %r failed", handler)

    @classmethod
    async def _call_all(cls, handlers: list[Callable[[Any], Awaitable[None]]],
                        arg: Any) -> None:
        for handler in handlers:
            await cls._call(handler, arg)

    def holder_of(self, station_id: str) -> str | None:
        holder = self.presence.holder(station_id)
        return holder.node if holder is not None and self.alive(holder.node) else None

    def stats(self) -> dict[str, Any]:
        return {
            "node": self.node_id, "clustered": True, "name": self.config.name,
            "nats_connected": bool(self.nc and self.nc.is_connected),
            "nodes_alive": sorted(n for n in self._alive if self.alive(n)),
            "stations_held": len(self.hub.stations),
            "commands_routed": self.router.routed, "commands_served": self.router.served,
            "takeovers": self.presence.takeovers, "events_forwarded": self.forwarded,
            "events_received": self.received, "connects_heard": self.connects_heard,
            "disconnects_heard": self.disconnects_heard,
            "leases": sorted(self.leases.held),
        }

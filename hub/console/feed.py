"""Live updates for open console pages: domain events fanned out to Server-Sent Events.

The feed subscribes once to the hub's event bus (connections, status, transactions, meter
values) and hands each event to the queues of the pages watching its station. A slow page
loses events (its queue is bounded) rather than holding memory; the page reloads its data on
the next event or on reconnect. At shutdown every stream gets an end marker so that no
response outlives the hub.

In a cluster a page on one node watches stations held by others. Forwarding every node's live
events to every other node would cost each meter value a NATS message even when nobody looks,
so interest travels instead: a node with open pages broadcasts which stations they watch
(``console-watching``, repeated every ``INTEREST_SECONDS / 2``), and a node forwards its own
live events (``console-live``, already in the page's form) only for stations someone watches.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from typing import Any

from aiohttp import web

from hub.context import Hub
from hub.events import (
    STATION_LIVE_EVENTS,
    Event,
    MeterValuesReceived,
    StationConnected,
    StationDisconnected,
    StatusChanged,
    TransactionEnded,
    TransactionStarted,
)
from hub.services.timestamps import format_timestamp

QUEUE_SIZE = 200
HEARTBEAT_SECONDS = 15.0
_END = object()
WATCHING = "console-watching"
LIVE = "console-live"
INTEREST_SECONDS = 10.0
#: Past this many watched stations a node says "every station" ("*") instead of listing them.
MAX_INTEREST_KEYS = 500


def event_data(event: Event) -> tuple[str, dict[str, Any]]:
    """The SSE event name and its JSON data (what the page's script needs, nothing more)."""
    data: dict[str, Any] = {"station_id": event.station_id, "at": format_timestamp(event.at)}
    if isinstance(event, StatusChanged):
        data.update(connector_id=event.connector_id, status=event.status,
                    error_code=event.error_code)
        return "status", data
    if isinstance(event, StationConnected | StationDisconnected):
        data["online"] = isinstance(event, StationConnected)
        return "connection", data
    if isinstance(event, TransactionStarted | TransactionEnded):
        data.update(connector_id=event.connector_id, transaction_id=event.transaction_id)
        return "transaction", data
    if isinstance(event, MeterValuesReceived):
        data.update(connector_id=event.connector_id, samples=[
            {k: s.get(k) for k in ("measurand", "value", "unit", "phase")}
            for s in event.samples[:20]])
        return "meter", data
    return "event", data


FLAP_WINDOW = 3600.0
FLAP_CONNECTS = 3
MAX_TRACKED = 100_000


class Connections:
    """When each station connected lately (this process), for the ping monitor: reconnects in
    the last hour, and flapping (``FLAP_CONNECTS`` or more connects within the hour)."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self.clock = clock
        self._connects: dict[str, deque[float]] = {}

    def connected(self, station_id: str) -> None:
        if station_id not in self._connects and len(self._connects) >= MAX_TRACKED:
            self._connects.pop(next(iter(self._connects)))
        self._connects.setdefault(station_id, deque(maxlen=20)).append(self.clock())

    def reconnects(self, station_id: str) -> int:
        """Connects after the first one within the last hour."""
        since = self.clock() - FLAP_WINDOW
        recent = sum(1 for at in self._connects.get(station_id, ()) if at >= since)
        return max(0, recent - 1)

    def flapping(self, station_id: str) -> bool:
        return self.reconnects(station_id) + 1 >= FLAP_CONNECTS


class ConsoleFeed:
    def __init__(self) -> None:
        # station id ("*" = every station) -> the queues of the pages watching it
        self._watchers: dict[str, set[asyncio.Queue[Any]]] = {}
        self.connections = Connections()
        self._cluster: Any = None
        # Other nodes' pages: station id (or "*") -> when their interest runs out (monotonic).
        self._remote_interest: dict[str, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.forwarded = 0

    def attach(self, hub: Hub) -> None:
        for kind in STATION_LIVE_EVENTS:
            hub.bus.listen(kind, self._publish)  # never waits: no task per event
        if hub.cluster.clustered:
            self._cluster = hub.cluster
            hub.cluster.on_broadcast(WATCHING, self._heard_watching)
            hub.cluster.on_broadcast(LIVE, self._heard_live)
            self._spawn(self._announce_forever())

    def _publish(self, event: Event) -> None:
        if isinstance(event, StationConnected):
            self.connections.connected(event.station_id)
        remote = self._remote_interest and self._wanted_elsewhere(event.station_id)
        if not self._watchers and not remote:
            return  # no page open: nothing to build (most events, e.g. every meter value)
        name, data = event_data(event)
        self._deliver(name, data)
        if remote:
            self.forwarded += 1
            self._spawn(self._cluster.broadcast(LIVE, {"name": name, "data": data}))

    def _deliver(self, name: str, data: dict[str, Any]) -> None:
        for key in (data["station_id"], "*"):
            for queue in self._watchers.get(key, ()):
                if not queue.full():
                    queue.put_nowait((name, data))

    # -- pages on other nodes ------------------------------------------------------------

    def _wanted_elsewhere(self, station_id: str) -> bool:
        now = time.monotonic()
        for key in (station_id, "*"):
            until = self._remote_interest.get(key)
            if until is not None:
                if until > now:
                    return True
                del self._remote_interest[key]
        return False

    async def _heard_watching(self, data: dict[str, Any]) -> None:
        until = time.monotonic() + INTEREST_SECONDS
        for key in data.get("stations", ())[:MAX_INTEREST_KEYS]:
            if isinstance(key, str):
                self._remote_interest[key] = until

    async def _heard_live(self, data: dict[str, Any]) -> None:
        name, body = data.get("name"), data.get("data")
        if isinstance(name, str) and isinstance(body, dict) and isinstance(
                body.get("station_id"), str):
            self._deliver(name, body)

    async def _announce(self) -> None:
        keys = list(self._watchers)
        if keys:
            stations = keys if len(keys) <= MAX_INTEREST_KEYS else ["*"]
            await self._cluster.broadcast(WATCHING, {"stations": stations})

    async def _announce_forever(self) -> None:
        while True:
            await self._announce()
            await asyncio.sleep(INTEREST_SECONDS / 2)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- pages on this node --------------------------------------------------------------

    @contextlib.contextmanager
    def _queue(self, station_id: str) -> Iterator[asyncio.Queue[Any]]:
        queue: asyncio.Queue[Any] = asyncio.Queue(QUEUE_SIZE)
        first = station_id not in self._watchers
        self._watchers.setdefault(station_id, set()).add(queue)
        if first and self._cluster is not None:
            self._spawn(self._announce())  # other nodes start forwarding now, not in 5 s
        try:
            yield queue
        finally:
            watchers = self._watchers.get(station_id, set())
            watchers.discard(queue)
            if not watchers:
                self._watchers.pop(station_id, None)

    async def watch(self, station_id: str, heartbeat: float = HEARTBEAT_SECONDS
                    ) -> AsyncIterator[tuple[str, dict[str, Any]] | None]:
        """The station's events as they come; None after ``heartbeat`` seconds of silence."""
        with self._queue(station_id) as queue:
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), heartbeat)
                except TimeoutError:
                    item = None
                if item is _END:
                    return
                yield item

    async def ticks(self, station_id: str, every: float = 1.0) -> AsyncIterator[None]:
        """A tick after the station's events and at least every ``every`` seconds. The events
        that queued while the caller worked make one tick: its reads run once per burst
        (a station's meter values), not once per event."""
        with self._queue(station_id) as queue:
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), every)
                except TimeoutError:
                    item = None
                while item is not _END and not queue.empty():
                    item = queue.get_nowait()
                if item is _END:
                    return
                yield None

    async def stop(self) -> None:
        """Stop announcing and forwarding (the hub is going down)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def close(self) -> None:
        for queues in self._watchers.values():
            for queue in queues:
                while queue.full():
                    queue.get_nowait()
                queue.put_nowait(_END)


CONSOLE_FEED = web.AppKey("console_feed", ConsoleFeed)


async def open_stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-store",
        "X-Accel-Buffering": "no"})
    await response.prepare(request)
    await response.write(b": connected\n\n")
    return response


async def send(response: web.StreamResponse, name: str | None, data: Any) -> None:
    if name is None:
        await response.write(b": keep-alive\n\n")
    else:
        await response.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())

"""Event-fed state the management API keeps in memory: recent connects/disconnects (reconnect
statistics) and waiters for the transaction a remote start produces."""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from hub.context import HUB
from hub.events import StationConnected, StationDisconnected, TransactionStarted


class ConnectionTracker:
    """Connects and disconnects of the last hours, for /api/reconnectStats."""

    def __init__(self, max_events: int = 50_000) -> None:
        # (wall time, station id, "connect" | "disconnect", reason)
        self.events: deque[tuple[float, str, str, str]] = deque(maxlen=max_events)

    async def on_connected(self, event: StationConnected) -> None:
        self.events.append((event.at.timestamp(), event.station_id, "connect", ""))

    async def on_disconnected(self, event: StationDisconnected) -> None:
        self.events.append((event.at.timestamp(), event.station_id, "disconnect", event.reason))

    def window(self, seconds: float, top: int = 20) -> dict[str, Any]:
        since = time.time() - seconds
        connects: Counter[str] = Counter()
        disconnects: Counter[str] = Counter()
        close_codes: Counter[str] = Counter()
        for at, station_id, kind, reason in self.events:
            if at < since:
                continue
            if kind == "connect":
                connects[station_id] += 1
            else:
                disconnects[station_id] += 1
                close_codes[reason or "unknown"] += 1
        # A reconnect is every connect of a station beyond its first in the window.
        reconnects = {sid: n - 1 for sid, n in connects.items() if n > 1}
        busiest = sorted(set(connects) | set(disconnects),
                         key=lambda sid: (-connects[sid], -disconnects[sid], sid))[:top]
        return {
            "window_seconds": seconds,
            "connects": sum(connects.values()),
            "disconnects": sum(disconnects.values()),
            "reconnects": sum(reconnects.values()),
            "stations_reconnecting": len(reconnects),
            "close_codes": dict(close_codes),
            "stations": [{"station_id": sid, "connects": connects[sid],
                          "disconnects": disconnects[sid],
                          "reconnects": reconnects.get(sid, 0)} for sid in busiest],
        }


@dataclass
class _Waiter:
    station_id: str
    connector_id: int | None
    id_tag: str
    future: asyncio.Future[int] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())


class TransactionWatcher:
    """Lets /api/startTransaction report the transaction id the charger's StartTransaction got."""

    def __init__(self) -> None:
        self._waiters: list[_Waiter] = []

    async def wait(self, waiter: _Waiter, seconds: float) -> int | None:
        try:
            return await asyncio.wait_for(asyncio.shield(waiter.future), seconds)
        except TimeoutError:
            return None
        finally:
            self.discard(waiter)

    def expect(self, station_id: str, connector_id: int | None, id_tag: str) -> _Waiter:
        waiter = _Waiter(station_id, connector_id, id_tag)
        self._waiters.append(waiter)
        return waiter

    def discard(self, waiter: _Waiter) -> None:
        if waiter in self._waiters:
            self._waiters.remove(waiter)

    async def on_started(self, event: TransactionStarted) -> None:
        for waiter in list(self._waiters):
            if (waiter.station_id == event.station_id and waiter.id_tag == event.id_tag
                    and waiter.connector_id in (None, event.connector_id)
                    and not waiter.future.done()):
                waiter.future.set_result(event.transaction_id)
                self._waiters.remove(waiter)
                return


TRACKER = web.AppKey("management_tracker", ConnectionTracker)
WATCHER = web.AppKey("management_watcher", TransactionWatcher)


async def tracking(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: runs after the hub runtime, so ``app[HUB]`` exists."""
    hub = app[HUB]
    tracker, watcher = app[TRACKER], app[WATCHER]
    hub.bus.subscribe(StationConnected, tracker.on_connected)
    hub.bus.subscribe(StationDisconnected, tracker.on_disconnected)
    # A remote start sent from this node may start a transaction on a station another node
    # holds: the watcher hears every node's TransactionStarted.
    hub.cluster.subscribe(TransactionStarted, watcher.on_started)
    yield

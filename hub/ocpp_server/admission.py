"""Admission control of the chargers' endpoint: what protects the hub when every charger of a
region comes back at once after a power cut, or the database is failing over.

- **Maximum connections** (``ocpp.max_connections``; 0 = derived from the process's file
  descriptor limit): a handshake beyond it is refused with HTTP 503 and ``Retry-After``, before
  anything else is done for it.
- **Batched admission reads**: the station row each handshake needs is read together with every
  other handshake waiting at that moment, one ``SELECT ... WHERE id IN (...)`` per batch of at
  most ``ocpp.admission_batch`` stations, one query in flight. A storm of 5,000 handshakes is a
  handful of queries, and the database never sees more than one connection's worth of them.
- **Told to retry, not left to time out**: a handshake is answered 503 + ``Retry-After`` (with
  jitter, so that the retries do not come back as one wave) when more than
  ``ocpp.max_pending_handshakes`` are already waiting, when the group committer is more than
  ``ocpp.db_queue_limit`` units behind (the database is saturated), when its admission could
  not be read within ``ocpp.handshake_timeout`` seconds, or when the database fails. Chargers
  reconnect with their own back-off; a 503 costs the hub nothing.
- **Back-pressure** while the committer is ``ocpp.db_queue_limit`` units behind: the busiest
  stations' sockets are not read for a while (flow_control.BackPressure).
- **Late requests**: a TCP connection has ``ocpp.upgrade_timeout`` seconds to send its request,
  then it is answered 408 and closed (hub/late_handshake.py).
"""

from __future__ import annotations

import asyncio
import logging
import random
import resource
import time
from typing import Any

from aiohttp import web

from hub.context import Hub
from hub.ocpp_server.flow_control import BackPressure
from hub.services import stations

log = logging.getLogger(__name__)

# File descriptors kept for the database, log files, HTTP API clients and outgoing connections.
RESERVED_FDS = 1024
MIN_AUTO_CONNECTIONS = 64
REFUSAL_LOG_INTERVAL = 10.0


def auto_max_connections() -> int:
    """The most WebSocket connections this process can hold: its file descriptor limit minus a
    reserve (each connection is one descriptor)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 100_000
    return max(MIN_AUTO_CONNECTIONS, soft - RESERVED_FDS)


class AdmissionReader:
    """Reads station admissions in batches: every handshake waiting at a moment shares a query."""

    def __init__(self, hub: Hub, max_batch: int) -> None:
        self._hub = hub
        self._max_batch = max_batch
        self._waiting: dict[str, list[asyncio.Future[stations.StationAdmission | None]]] = {}
        self._task: asyncio.Task[None] | None = None
        self.queries = 0

    @property
    def pending(self) -> int:
        return len(self._waiting)

    async def read(self, station_id: str) -> stations.StationAdmission | None:
        future: asyncio.Future[stations.StationAdmission | None] = (
            asyncio.get_running_loop().create_future())
        self._waiting.setdefault(station_id, []).append(future)
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        return await future

    async def _run(self) -> None:
        try:
            while self._waiting:
                # One loop turn: the handshakes that arrived together join this batch.
                await asyncio.sleep(0)
                ids = list(self._waiting)[: self._max_batch]
                futures = {station_id: self._waiting.pop(station_id) for station_id in ids}
                try:
                    self.queries += 1
                    found = await stations.admissions(self._hub, ids)
                except Exception as exc:
                    for waiters in futures.values():
                        for future in waiters:
                            if not future.done():
                                future.set_exception(exc)
                    continue
                for station_id, waiters in futures.items():
                    for future in waiters:
                        if not future.done():
                            future.set_result(found[station_id])
        finally:
            self._task = None


class Refused(Exception):
    """A handshake the hub asks to retry later (HTTP 503 + Retry-After)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class AdmissionControl:
    """One per application (``app[ADMISSION]``): bound to the hub at its first handshake."""

    def __init__(self) -> None:
        self._hub: Hub | None = None
        self._reader: AdmissionReader | None = None
        self.pressure: BackPressure | None = None
        self.max_connections = 0
        self.handshaking = 0
        self.admitted = 0
        self.refused: dict[str, int] = {}
        self._refused_since_log = 0
        self._last_refusal_log = 0.0

    def _bind(self, hub: Hub) -> AdmissionReader:
        if self._hub is not hub or self._reader is None:
            config = hub.config.ocpp
            self._hub = hub
            self._reader = AdmissionReader(hub, config.admission_batch)
            committer = hub.committer
            self.pressure = BackPressure(lambda: committer.queue_depth, config.db_queue_limit,
                                         config.busy_messages_per_second)
            self.max_connections = config.max_connections or auto_max_connections()
        return self._reader

    async def admit(self, hub: Hub, station_id: str
                    ) -> stations.StationAdmission | None | web.Response:
        """The station's admission (None: unknown and refused), or a 503 response."""
        reader = self._bind(hub)
        config = hub.config.ocpp
        try:
            if len(hub.stations) + self.handshaking >= self.max_connections:
                raise Refused("max_connections",
                              f"the hub holds its maximum of {self.max_connections} connections")
            if reader.pending >= config.max_pending_handshakes:
                raise Refused("busy", "too many handshakes are waiting")
            if hub.committer.queue_depth >= config.db_queue_limit:
                raise Refused("database_busy", "the database is saturated")
            self.handshaking += 1
            try:
                async with asyncio.timeout(config.handshake_timeout):
                    admission = await reader.read(station_id)
            except TimeoutError:
                raise Refused("timeout", "the station's admission could not be read in time"
                              ) from None
            except Exception as exc:
                raise Refused("database_error",
                              f"the database is unavailable ({type(exc).__name__})") from exc
            finally:
                self.handshaking -= 1
        except Refused as refusal:
            return self._refusal(hub, station_id, refusal)
        self.admitted += 1
        return admission

    def _refusal(self, hub: Hub, station_id: str, refusal: Refused) -> web.Response:
        self.refused[refusal.reason] = self.refused.get(refusal.reason, 0) + 1
        self._refused_since_log += 1
        now = time.monotonic()
        if now - self._last_refusal_log >= REFUSAL_LOG_INTERVAL:
            # One line per interval: a storm must not turn into a storm of log lines.
            log.warning("asked %d station(s) to retry later, e.g. %s: %s (refusals so far: %s)",
                        self._refused_since_log, station_id, refusal.detail, self.refused,
                        exc_info=refusal.__cause__ if refusal.__cause__ else None)
            self._refused_since_log = 0
            self._last_refusal_log = now
        base = hub.config.ocpp.retry_after
        retry_after = random.randint(base, 2 * base) if base > 0 else 0
        return web.json_response(
            {"error": "retry_later", "detail": f"{refusal.detail}; retry in {retry_after} s",
             "reason": refusal.reason},
            status=503, headers={"Retry-After": str(retry_after)})

    def stats(self) -> dict[str, Any]:
        return {
            "max_connections": self.max_connections,
            "handshaking": self.handshaking,
            "pending_admission_reads": self._reader.pending if self._reader else 0,
            "admission_queries": self._reader.queries if self._reader else 0,
            "admitted": self.admitted,
            "refused": dict(self.refused),
            "back_pressure": self.pressure.stats() if self.pressure else None,
        }


ADMISSION = web.AppKey("admission_control", AdmissionControl)

"""Broker relay: a redirected station's OCPP connection passed to (or mirrored to) another backend.

The OCPP endpoint asks ``open_link`` at each handshake, after the station was admitted and its
credentials checked (so the hub's limits and security profiles apply to relayed stations too):

- **relay**: the upstream WebSocket is opened *before* the station's upgrade, with the
  subprotocol the station negotiated. If the upstream refuses or cannot be reached, the station
  is refused (see ``refusal``) and the redirect's ``last_error`` set; the station retries with
  its own back-off. Once both are up, a ``RelaySession`` stands in the registry for the station
  (connection state, counters, rate limit, message log as for any station) but forwards every
  frame unchanged instead of dispatching it, and a pump task forwards the upstream's frames to
  the station. One side closing closes the other (an upstream that goes away closes the
  station with 1012, so it reconnects and is relayed again once the upstream is back).
- **mirror** (``hub/ocpp_server/mirror.py``): the hub stays the station's backend; the
  station's own CALLs are copied, through a bounded queue that drops (and counts) what a slow
  upstream cannot take, to an upstream connection kept in the background (reconnected with
  back-off); its answers are logged and discarded.

The upstream connection and the cached redirects are ``hub/ocpp_server/upstream.py``.

Buffers are bounded both ways: each direction awaits its send before reading the next frame,
so a slow side stops the reads of the other (TCP back-pressure); sends give up after
``ocpp.send_timeout`` (and the station side after ``ocpp.send_buffer_bytes`` unsent), which
closes the link. Ping/pong runs on each leg separately (``ocpp.websocket_ping_interval``):
WebSocket pings are hop-by-hop, so each side's liveness is checked by the hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web

from hub import commands
from hub.context import Hub
from hub.ocpp_server.mirror import MirrorLink
from hub.ocpp_server.session import StationSession
from hub.ocpp_server.upstream import (
    RELAY,
    CallsInFlight,
    RelayRuntime,
    UpstreamRefused,
    peek,
)
from hub.services.redirects import Redirect

log = logging.getLogger(__name__)

UPSTREAM_CLOSED = 1012       # "service restart": tells the charger to reconnect


# -- the endpoint's hook -------------------------------------------------------------------------


async def open_link(app: web.Application, hub: Hub, station_id: str, protocol: str
                    ) -> RelayLink | MirrorLink | web.Response | None:
    """The station's link to its upstream, None without an enabled redirect, or the response
    that refuses the station (its relay upstream is not available)."""
    runtime = app.get(RELAY)
    redirect = runtime.active(station_id) if runtime is not None else None
    if redirect is None:
        return None
    if redirect.mode == "mirror":
        return MirrorLink(runtime, hub, redirect, protocol)
    try:
        upstream = await runtime.connect(redirect, protocol)
    except UpstreamRefused as exc:
        runtime.fail(redirect, str(exc))
        return refusal(hub, exc)
    return RelayLink(runtime, hub, redirect, upstream)


def refusal(hub: Hub, exc: UpstreamRefused) -> web.Response:
    """What a relayed station gets when its upstream does not take it: the upstream's own
    4xx (it refused this station: the charger sees what its backend said), otherwise 503 with
    ``Retry-After`` (the upstream is down or failing: the charger retries later)."""
    if exc.status is not None and 400 <= exc.status < 500:
        return web.json_response({"error": "upstream_refused", "detail": str(exc)},
                                 status=exc.status)
    base = hub.config.ocpp.retry_after
    retry_after = random.randint(base, 2 * base) if base > 0 else 0
    return web.json_response({"error": "upstream_unavailable", "detail": str(exc)},
                             status=503, headers={"Retry-After": str(retry_after)})


class RelaySession(StationSession):
    """A relayed station in the registry: it forwards instead of dispatching."""

    relayed = True

    def __init__(self, station_id: str, ws: web.WebSocketResponse, hub: Hub, *,
                 remote: str | None, link: RelayLink, ocpp_version: str) -> None:
        super().__init__(station_id, ws, hub, remote=remote)
        self.ocpp_version = ocpp_version  # type: ignore[misc]  (per connection here)
        self.link = link

    async def route_message(self, raw: str | bytes) -> None:
        self.messages_in += 1
        self.last_seen = time.time()
        await self.link.to_upstream(raw)

    async def call_payload(self, action: str, body: dict[str, Any], *,
                           unique_id: str | None = None, skip_schema_validation: bool = False,
                           timeout: float | None = None) -> dict[str, Any]:
        raise commands.StationRedirected(self.id)  # call() too: it sends through this


class RelayLink:
    """relay mode: one station socket and its upstream socket, frames passed both ways."""

    def __init__(self, runtime: RelayRuntime, hub: Hub, redirect: Redirect,
                 upstream: aiohttp.ClientWebSocketResponse) -> None:
        self.runtime = runtime
        self.hub = hub
        self.redirect = redirect
        self.upstream = upstream
        self.stats = runtime.stats_for(redirect.station_id)
        self.stats.mode, self.stats.upstream_connected = "relay", True
        self.stats.open_links += 1
        self._station_calls = CallsInFlight()
        self._upstream_calls = CallsInFlight()
        self._session: RelaySession | None = None
        self._pump: asyncio.Task[None] | None = None
        self._closed = False
        self._failed = False

    def session(self, cls: type[StationSession], station_id: str, ws: web.WebSocketResponse,
                hub: Hub, remote: str | None) -> StationSession:
        session = RelaySession(station_id, ws, hub, remote=remote, link=self,
                               ocpp_version=cls.ocpp_version)
        self._session = session
        self._pump = asyncio.create_task(self._pump_down(session))
        return session

    def frames(self, ws: web.WebSocketResponse) -> Any:
        return ws

    async def to_upstream(self, raw: str | bytes) -> None:
        """A station frame to the upstream; a failed send closes the station's socket."""
        kind, unique_id, action = peek(raw)
        if kind == 2:
            self._station_calls.add(unique_id, action)
        elif kind:
            action, elapsed = self._upstream_calls.answered(unique_id)
            self._record("relay_out", action, elapsed, raw if kind == 4 else None)
        self._log("in", kind, unique_id, action, raw)
        try:
            async with asyncio.timeout(self.hub.config.ocpp.send_timeout or None):
                if isinstance(raw, bytes):
                    await self.upstream.send_bytes(raw)
                else:
                    await self.upstream.send_str(raw)
        except (ConnectionError, RuntimeError, TimeoutError) as exc:
            self._failed = True
            self.runtime.fail(self.redirect, f"could not send to the upstream: "
                              f"{type(exc).__name__}: {exc}")
            await self._close_upstream(1011)  # the pump then closes the station
            return
        self.stats.frames_to_upstream += 1

    async def _pump_down(self, session: RelaySession) -> None:
        """The upstream's frames to the station until either side ends."""
        try:
            async for msg in self.upstream:
                if msg.type is not WSMsgType.TEXT:
                    if msg.type is WSMsgType.BINARY:
                        log.info("%s: upstream sent a binary frame; dropped", session.id)
                        continue
                    break
                kind, unique_id, action = peek(msg.data)
                if kind == 2:
                    self._upstream_calls.add(unique_id, action)
                elif kind:
                    action, elapsed = self._station_calls.answered(unique_id)
                    self._record("relay", action, elapsed, msg.data if kind == 4 else None)
                self._log("out", kind, unique_id, action, msg.data)
                self.stats.frames_from_upstream += 1
                session.messages_out += 1
                await session.ws.send_str(msg.data)
        except (ConnectionError, RuntimeError) as exc:
            log.info("%s: could not send to the station (%s)", session.id, exc)
        finally:
            self.stats.upstream_connected = False
            if not self._closed:
                # The upstream ended the link (or stopped answering pings): close the station.
                if not self._failed:
                    self.runtime.fail(self.redirect, "upstream closed the connection "
                                      f"(code {self.upstream.close_code})")
                with contextlib.suppress(Exception):
                    await session.ws.close(code=UPSTREAM_CLOSED, message=b"upstream closed")

    def _record(self, direction: str, action: str | None, elapsed: float | None,
                error_frame: str | bytes | None) -> None:
        if elapsed is None:
            return
        error = None
        if error_frame is not None:
            with contextlib.suppress(ValueError, IndexError, TypeError):
                error = str(json.loads(error_frame)[2])[:64]
            error = error or "CallError"
        self.hub.metrics.record(direction, action or "(unknown)", elapsed, error)

    def _log(self, direction: str, kind: int, unique_id: str | None, action: str | None,
             frame: str | bytes) -> None:
        if isinstance(frame, bytes):
            frame = frame.decode("utf-8", "replace")
        self.hub.message_log.record(self.redirect.station_id, direction, kind, unique_id,
                                    action, frame, via="relay")

    async def _close_upstream(self, code: int) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self.hub.config.ocpp.send_timeout or None):
                await self.upstream.close(code=code)

    async def close(self, station_close_code: int | None = None) -> None:
        """The station's side ended: close the upstream and stop the pump."""
        if self._closed:
            return
        self._closed = True
        self.stats.open_links -= 1
        await self._close_upstream(1000 if station_close_code == 1000 else 1001)
        self.stats.upstream_connected = False
        if self._pump is not None:
            done, _ = await asyncio.wait({self._pump},
                                         timeout=self.hub.config.ocpp.send_timeout or None)
            if not done:
                self._pump.cancel()
                await asyncio.gather(self._pump, return_exceptions=True)

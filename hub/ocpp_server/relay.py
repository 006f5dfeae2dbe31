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
- **mirror**: the hub stays the station's backend; the station's own CALLs are copied, through
  a bounded queue that drops (and counts) what a slow upstream cannot take, to an upstream
  connection kept in the background (reconnected with back-off); its answers are logged and
  discarded.

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
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web

from hub import commands
from hub.context import Hub
from hub.ocpp_server.session import StationSession
from hub.services import redirects
from hub.services.redirects import Redirect

log = logging.getLogger(__name__)

MIRROR_QUEUE = 1000          # frames waiting for a slow mirror upstream; beyond: dropped
MAX_CALLS_TRACKED = 256      # unique ids of calls in flight per link, for logging and latency
MIRROR_BACKOFF_MAX = 60.0
UPSTREAM_CLOSED = 1012       # "service restart": tells the charger to reconnect
HARD_FRAME_FACTOR = 16       # as the endpoint: frames above this are refused by aiohttp


class UpstreamRefused(Exception):
    """The upstream did not take the connection: ``status`` is its HTTP answer, if it gave one."""

    def __init__(self, detail: str, status: int | None = None) -> None:
        super().__init__(detail)
        self.status = status


@dataclass
class LinkStats:
    """A redirected station's live state on this node (counters since the node started)."""

    mode: str | None = None
    upstream_connected: bool = False
    frames_to_upstream: int = 0
    frames_from_upstream: int = 0
    frames_dropped: int = 0
    last_error: str | None = None
    last_error_at: float | None = None
    # Links of the station open now (a reconnect overlaps its old and new link for a moment).
    open_links: int = 0

    @property
    def active_mode(self) -> str | None:
        return self.mode if self.open_links > 0 else None

    def view(self) -> dict[str, Any]:
        return {"upstream_connected": self.upstream_connected,
                "frames_to_upstream": self.frames_to_upstream,
                "frames_from_upstream": self.frames_from_upstream,
                "frames_dropped": self.frames_dropped}


class RelayRuntime:
    """One per application (``app[RELAY]``): the cached redirects, the live links' state and
    the HTTP client the upstream connections share."""

    def __init__(self) -> None:
        self.redirects: dict[str, Redirect] = {}
        self.stats: dict[str, LinkStats] = {}
        self.hub: Hub | None = None
        self._client: aiohttp.ClientSession | None = None
        self._ssl: dict[tuple[str | None, ...], ssl.SSLContext] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self, hub: Hub) -> None:
        self.hub = hub
        self._client = aiohttp.ClientSession()
        await self.reload()

    async def stop(self) -> None:
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def reload(self) -> int:
        """Read every redirect again (GET /refreshStationList, start-up)."""
        assert self.hub is not None
        self.redirects = await redirects.load_all(self.hub)
        self._ssl.clear()
        return len(self.redirects)

    def put(self, redirect: Redirect) -> None:
        self.redirects[redirect.station_id] = redirect

    def forget(self, station_id: str) -> None:
        self.redirects.pop(station_id, None)

    def active(self, station_id: str) -> Redirect | None:
        redirect = self.redirects.get(station_id)
        return redirect if redirect is not None and redirect.enabled else None

    def stats_for(self, station_id: str) -> LinkStats:
        stats = self.stats.get(station_id)
        if stats is None:
            stats = self.stats[station_id] = LinkStats()
        return stats

    def fail(self, redirect: Redirect, error: str) -> None:
        """Note an upstream failure: in the live state at once, on the redirect row soon."""
        stats = self.stats_for(redirect.station_id)
        stats.last_error, stats.last_error_at = error, time.time()
        # The URL never holds credentials (refused at input); the password is not in `error`.
        log.warning("%s: upstream %s: %s", redirect.station_id, redirect.upstream_url(), error)
        self.spawn(self._record_error(redirect.station_id, error))

    async def _record_error(self, station_id: str, error: str) -> None:
        assert self.hub is not None
        try:
            await redirects.record_error(self.hub, station_id, error)
        except Exception as exc:
            log.warning("%s: could not record the upstream error (%r)", station_id, exc)

    def spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def connect(self, redirect: Redirect, protocol: str
                      ) -> aiohttp.ClientWebSocketResponse:
        """Open the station's upstream WebSocket with ``protocol``; raises UpstreamRefused."""
        assert self.hub is not None and self._client is not None
        config = self.hub.config.ocpp
        headers = ({"Authorization": aiohttp.encode_basic_auth(
            redirect.station_id, redirect.upstream_password)}
            if redirect.upstream_password else None)
        try:
            async with asyncio.timeout(config.handshake_timeout):
                upstream = await self._client.ws_connect(
                    redirect.upstream_url(), protocols=(protocol,), headers=headers,
                    ssl=self._ssl_context(redirect), compress=0,
                    heartbeat=config.websocket_ping_interval or None,
                    max_msg_size=config.max_frame_bytes * HARD_FRAME_FACTOR)
        except aiohttp.WSServerHandshakeError as exc:
            raise UpstreamRefused(f"upstream refused the connection: HTTP {exc.status}",
                                  exc.status) from None
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
            raise UpstreamRefused(f"upstream unreachable: {type(exc).__name__}: {exc}") from None
        if upstream.protocol != protocol:
            await upstream.close()
            raise UpstreamRefused(f"upstream did not accept the subprotocol {protocol}")
        return upstream

    def _ssl_context(self, redirect: Redirect) -> ssl.SSLContext | bool:
        if not (redirect.client_cert or redirect.ca_bundle):
            return True  # aiohttp's default verification (ignored for ws://)
        key = (redirect.client_cert, redirect.client_key, redirect.ca_bundle)
        context = self._ssl.get(key)
        if context is None:
            context = tls_context(*key)
            self._ssl[key] = context
        return context


def tls_context(client_cert: str | None, client_key: str | None,
                ca_bundle: str | None) -> ssl.SSLContext:
    """TLS towards a wss:// upstream: its CA bundle (else the system's) and our client
    certificate (security profile 3 towards the upstream). Raises OSError/ssl.SSLError."""
    context = ssl.create_default_context(cafile=ca_bundle or None)
    if client_cert:
        context.load_cert_chain(client_cert, client_key or None)
    return context


RELAY = web.AppKey("relay_runtime", RelayRuntime)


async def relay_runtime(app: web.Application) -> AsyncIterator[None]:
    """``cleanup_ctx`` of the relay, after the hub runtime's (it needs the database)."""
    from hub.context import HUB

    runtime = app[RELAY]
    await runtime.start(app[HUB])
    try:
        yield
    finally:
        await runtime.stop()


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


def peek(frame: str | bytes) -> tuple[int, str | None, str | None]:
    """(message type, unique id, action) of an OCPP-J frame, or (0, None, None)."""
    try:
        msg = json.loads(frame)
    except (ValueError, UnicodeDecodeError):
        return 0, None, None
    if not isinstance(msg, list) or len(msg) < 3 or msg[0] not in (2, 3, 4):
        return 0, None, None
    action = msg[2] if msg[0] == 2 and isinstance(msg[2], str) else None
    return msg[0], str(msg[1])[:64], action


class _CallsInFlight:
    """Unique id -> (action, start) of the calls one side made, bounded (a side that never
    answers cannot grow it)."""

    def __init__(self) -> None:
        self._calls: dict[str, tuple[str | None, float]] = {}

    def add(self, unique_id: str | None, action: str | None) -> None:
        if unique_id is None:
            return
        if len(self._calls) >= MAX_CALLS_TRACKED:
            self._calls.pop(next(iter(self._calls)))
        self._calls[unique_id] = (action, time.perf_counter())

    def answered(self, unique_id: str | None) -> tuple[str | None, float | None]:
        action, started = self._calls.pop(unique_id, (None, None)) if unique_id else (None, None)
        return action, None if started is None else time.perf_counter() - started


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

    async def call(self, payload: Any, suppress: bool = False, unique_id: str | None = None,
                   skip_schema_validation: bool = False, *, timeout: float | None = None) -> Any:
        raise commands.StationRedirected(self.id)


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
        self._station_calls = _CallsInFlight()
        self._upstream_calls = _CallsInFlight()
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


class MirrorLink:
    """mirror mode: the hub serves the station; its CALLs are copied to the upstream."""

    def __init__(self, runtime: RelayRuntime, hub: Hub, redirect: Redirect,
                 protocol: str) -> None:
        self.runtime = runtime
        self.hub = hub
        self.redirect = redirect
        self.protocol = protocol
        self.stats = runtime.stats_for(redirect.station_id)
        self.stats.mode = "mirror"
        self.stats.open_links += 1
        self._closed = False
        self._queue: asyncio.Queue[str] = asyncio.Queue(maxsize=MIRROR_QUEUE)
        self._calls = _CallsInFlight()
        self._task: asyncio.Task[None] | None = None

    def session(self, cls: type[StationSession], station_id: str, ws: web.WebSocketResponse,
                hub: Hub, remote: str | None) -> StationSession:
        self._task = asyncio.create_task(self._run())
        return cls(station_id, ws, hub, remote=remote)

    def frames(self, ws: web.WebSocketResponse) -> Any:
        return _MirroredFrames(ws, self)

    def offer(self, frame: str) -> None:
        """Copy a station frame if it is a CALL (its answers to the hub's own commands would
        mean nothing to the upstream, which never sent them)."""
        kind, unique_id, action = peek(frame)
        if kind != 2:
            return
        try:
            self._queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.stats.frames_dropped += 1
            return
        self._calls.add(unique_id, action)

    async def _run(self) -> None:
        backoff = 1.0
        while True:
            try:
                upstream = await self.runtime.connect(self.redirect, self.protocol)
            except UpstreamRefused as exc:
                self.runtime.fail(self.redirect, f"mirror: {exc}")
                await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
                backoff = min(MIRROR_BACKOFF_MAX, backoff * 2)
                continue
            backoff = 1.0
            self.stats.upstream_connected = True
            try:
                await self._feed(upstream)
            finally:
                self.stats.upstream_connected = False
                with contextlib.suppress(Exception):
                    await upstream.close()
            self.runtime.fail(self.redirect, "mirror: upstream closed the connection "
                              f"(code {upstream.close_code})")
            await asyncio.sleep(backoff * random.uniform(0.5, 1.0))

    async def _feed(self, upstream: aiohttp.ClientWebSocketResponse) -> None:
        """Send queued copies until the upstream goes away; its answers are logged."""
        reader = asyncio.create_task(self._read_answers(upstream))
        try:
            while not reader.done():
                getter = asyncio.ensure_future(self._queue.get())
                await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    break
                async with asyncio.timeout(self.hub.config.ocpp.send_timeout or None):
                    await upstream.send_str(getter.result())
                self.stats.frames_to_upstream += 1
        except (ConnectionError, RuntimeError, TimeoutError) as exc:
            log.info("%s: mirror send failed (%s)", self.redirect.station_id, exc)
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    async def _read_answers(self, upstream: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in upstream:
            if msg.type is not WSMsgType.TEXT:
                break
            kind, unique_id, action = peek(msg.data)
            if kind in (3, 4):
                action, elapsed = self._calls.answered(unique_id)
                if elapsed is not None:
                    self.hub.metrics.record("mirror", action or "(unknown)", elapsed,
                                            None if kind == 3 else "CallError")
            self.stats.frames_from_upstream += 1
            self.hub.message_log.record(self.redirect.station_id, "in", kind, unique_id,
                                        action, msg.data, via="mirror")

    async def close(self, station_close_code: int | None = None) -> None:
        if self._closed:
            return
        self._closed = True
        self.stats.open_links -= 1
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.stats.upstream_connected = False


class _MirroredFrames:
    """The station socket as the read loop iterates it, offering each text frame to the
    mirror first."""

    def __init__(self, ws: web.WebSocketResponse, link: MirrorLink) -> None:
        self._ws = ws
        self._link = link

    async def __aiter__(self) -> AsyncIterator[aiohttp.WSMessage]:
        async for msg in self._ws:
            if msg.type is WSMsgType.TEXT:
                self._link.offer(msg.data)
            yield msg

    def exception(self) -> BaseException | None:
        return self._ws.exception()

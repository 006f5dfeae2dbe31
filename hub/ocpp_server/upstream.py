"""The upstream side of broker redirects: the cached redirects, the shared HTTP client, the
upstream WebSocket connection (aiohttp ``ws_connect`` with the station's subprotocol, its
credentials and TLS), and the live state of each redirected station. Used by the relay
(``hub/ocpp_server/relay.py``) and the mirror (``hub/ocpp_server/mirror.py``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from hub.context import Hub
from hub.services import redirects
from hub.services.redirects import Redirect

log = logging.getLogger(__name__)

MAX_CALLS_TRACKED = 256      # unique ids of calls in flight per link, for logging and latency
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


class CallsInFlight:
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

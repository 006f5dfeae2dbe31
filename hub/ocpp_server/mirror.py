"""Broker redirects in mirror mode: the hub stays the station's backend and copies the
station's own CALLs to an upstream, whose answers are logged and discarded.

Copies wait in a bounded queue (``MIRROR_QUEUE``) and beyond it are dropped and counted, so a
slow or absent mirror never slows the station. The upstream connection lives in the background
and is reconnected with back-off (1 s doubling to ``MIRROR_BACKOFF_MAX``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web

from hub.context import Hub
from hub.ocpp_server.session import StationSession
from hub.ocpp_server.upstream import CallsInFlight, RelayRuntime, UpstreamRefused, peek
from hub.services.redirects import Redirect

log = logging.getLogger(__name__)

MIRROR_QUEUE = 1000          # frames waiting for a slow mirror upstream; beyond: dropped
MIRROR_BACKOFF_MAX = 60.0


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
        self._calls = CallsInFlight()
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

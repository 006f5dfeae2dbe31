"""Flow control of a live OCPP connection: a per-station message-rate limit and a bounded send.

Rate limit: a token bucket per connection (``ocpp.rate_limit`` messages per second sustained,
``ocpp.rate_burst`` at once). A CALL over the limit is answered at once with a CALLERROR
``GenericError`` carrying its unique id (and ``retryAfter`` in the details) instead of being
processed: the charger learns why and retries later, and one misbehaving charger cannot take the
hub's CPU or database from the others. Answers to the hub's own calls are never refused, and a
malformed frame over the limit still gets the CALLERROR the OCPP-J spec gives it. The bucket lives
in the read loop's locals, so it costs no memory per held station.

Bounded send: aiohttp's WebSocket writer waits for the transport to drain once its buffer is
above the high-water mark, so a charger that stops reading blocks the sender rather than growing
the buffer; but the sender would wait forever, and a sender that is cancelled meanwhile (a
command's own timeout) leaves its frame buffered, so repeated commands would still grow it.
``GuardedWebSocket`` gives every send (and the closing handshake) ``ocpp.send_timeout`` seconds
and refuses to add to a buffer already holding more than ``ocpp.send_buffer_bytes``; either way
the socket is aborted, which ends the session like any disconnect.

Back-pressure: when the group committer is more than ``ocpp.db_queue_limit`` units behind (the
database is the bottleneck), a station that sent more than ``ocpp.busy_messages_per_second``
frames in the last second is not read from until the queue is below half the limit (at most
MAX_PAUSE seconds at a time, so nobody starves): its frames wait in its socket, the kernel's
flow control slows it down, and the stations that speak rarely keep getting their answers.
New handshakes are refused with 503 + Retry-After meanwhile (admission.py). Without this the
queue grows until every answer takes tens of seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web
from ocpp.messages import Call, MessageType

from hub.ocpp_server.framing import FrameError, parse_frame

if TYPE_CHECKING:
    from hub.ocpp_server.session import StationSession

log = logging.getLogger(__name__)


# Far below the transport's high-water mark (64 KiB), where aiohttp starts waiting for a drain.
_SMALL_FRAME = 4096


class GuardedWebSocket(web.WebSocketResponse):
    """A server WebSocket whose sends give up (and abort the socket) after ``send_timeout``,
    and that aborts instead of buffering more than ``max_buffer`` unsent bytes."""

    def __init__(self, *, send_timeout: float, max_buffer: int, **kwargs: Any) -> None:
        # autoping off: receive() answers the peer's pings itself and sees the pongs to our
        # heartbeat pings, which gives the round trip (aiohttp swallows pongs otherwise).
        super().__init__(autoping=False, **kwargs)
        self._send_timeout = send_timeout or None
        self._max_buffer = max_buffer
        # The last heartbeat ping's round trip (seconds) and when its pong came (wall clock).
        self.round_trip: float | None = None
        self.round_trip_at: float | None = None
        self._ping_sent: float | None = None

    def _send_heartbeat(self) -> None:
        # aiohttp has no public hook for its heartbeat ping: note the time it goes out (a call
        # that only reschedules is followed by the real one before any pong can arrive).
        # tests/hub/console/test_ping_round_trip.py fails should aiohttp rename this method.
        self._ping_sent = time.monotonic()
        super()._send_heartbeat()

    async def receive(self, timeout: float | None = None) -> Any:
        while True:
            msg = await super().receive(timeout)
            if msg.type is WSMsgType.PING:
                await self.pong(msg.data)
            elif msg.type is WSMsgType.PONG:
                if self._ping_sent is not None:
                    self.round_trip = time.monotonic() - self._ping_sent
                    self.round_trip_at = time.time()
                    self._ping_sent = None
            else:
                return msg

    async def send_str(self, data: str, compress: int | None = None) -> None:
        request = self._req
        transport = request.transport if request is not None else None
        if transport is not None and transport.get_write_buffer_size() > self._max_buffer:
            # A sender that gave up waiting (a command's own timeout cancels the send) leaves
            # its frame in the buffer; without this check every further command would add one.
            self.abort()
            raise ConnectionResetError(
                f"more than {self._max_buffer} bytes unsent: the peer is not reading")
        if (transport is not None and len(data) < _SMALL_FRAME and not compress
                and not transport.get_write_buffer_size()):
            # Nothing unsent: a small frame goes straight to the socket and aiohttp has no
            # reason to wait for a drain; no timer needed (most answers take this path).
            await super().send_str(data)
            return
        try:
            async with asyncio.timeout(self._send_timeout):
                await super().send_str(data, compress)
        except TimeoutError:
            self.abort()
            raise ConnectionResetError(
                f"send timed out after {self._send_timeout:g} s: the peer is not reading"
            ) from None

    async def close(self, *, code: int = 1000, message: bytes = b"", drain: bool = True) -> bool:
        try:
            async with asyncio.timeout(self._send_timeout):
                return await super().close(code=code, message=message, drain=drain)
        except TimeoutError:
            self.abort()
            return True

    def abort(self) -> None:
        """Drop the socket now, with whatever is still unsent (a peer that stopped reading)."""
        request = self._req
        if request is not None and request.transport is not None:
            log.info("%s: aborting the socket, its peer stopped reading",
                     request.match_info.get("station_id", "?"))
            request.transport.abort()


MAX_PAUSE = 5.0
PAUSE_STEP = 0.05


class BackPressure:
    """Holds the busiest stations' reads while the commit queue is deep (one per hub)."""

    def __init__(self, queue_depth: Callable[[], int], limit: int, busy_rate: float) -> None:
        self._queue_depth = queue_depth
        self.limit = limit
        self.busy_rate = busy_rate
        self.holding = 0  # sessions waiting right now
        self.holds = 0

    def deep(self) -> bool:
        return self._queue_depth() >= self.limit

    async def hold(self) -> None:
        """Wait until the queue is below half the limit, or MAX_PAUSE."""
        self.holding += 1
        self.holds += 1
        deadline = time.monotonic() + MAX_PAUSE
        try:
            # Polled: the committer's queue has no "drained" signal; bounded by MAX_PAUSE.
            while self._queue_depth() > self.limit // 2 and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(PAUSE_STEP)
        finally:
            self.holding -= 1

    def stats(self) -> dict[str, Any]:
        return {"limit": self.limit, "holding": self.holding, "holds": self.holds}


async def read_loop(session: StationSession, ws: web.WebSocketResponse, rate: float,
                    burst: float, pressure: BackPressure | None = None) -> None:
    """Feed every frame to ``session``; CALLs over the rate limit get a CALLERROR instead."""
    tokens = burst
    stamp = time.monotonic()
    window, frames = stamp, 0  # this station's frames in the current second
    async for msg in ws:
        if msg.type is WSMsgType.TEXT or msg.type is WSMsgType.BINARY:
            if pressure is not None:
                now = time.monotonic()
                if now - window >= 1.0:
                    window, frames = now, 0
                frames += 1
                if frames > pressure.busy_rate and pressure.deep():
                    await pressure.hold()
            # Binary frames are not OCPP-J frames, but get an answer so the charger learns why.
            if rate > 0:
                now = time.monotonic()
                tokens = min(burst, tokens + (now - stamp) * rate)
                stamp = now
                if tokens < 1.0:
                    await _refuse(session, msg.data, (1.0 - tokens) / rate, rate)
                    continue
                tokens -= 1.0
            try:
                await session.route_message(msg.data)
            except Exception:
                # route_message answers every frame itself; should a bug let an exception out,
                # it must not end the session (aiohttp would write an HTTP 500 into the
                # WebSocket stream).
                log.exception("%s: frame could not be handled", session.id)
        elif msg.type is WSMsgType.ERROR:
            log.info("%s: websocket error %s", session.id, ws.exception())
            break


async def _refuse(session: StationSession, raw: str | bytes, retry_after: float,
                  rate: float) -> None:
    started = time.perf_counter()
    hub = session.hub
    try:
        msg = parse_frame(raw, hub.config.ocpp.max_frame_bytes)
    except FrameError:
        # Malformed frames cost no more than this refusal: answer them as the spec says.
        await session.route_message(raw)
        return
    if not isinstance(msg, Call):
        await session.route_message(raw)  # an answer to one of our calls is never refused
        return
    session.messages_in += 1
    session.last_seen = time.time()
    session._log_frame("in", MessageType.Call, msg.unique_id, msg.action, raw)
    await session._send_call_error(
        msg.unique_id, "GenericError",
        f"message rate limit of {rate:g}/s exceeded; {msg.action} was not processed, "
        "retry later", {"retryAfter": round(retry_after, 3)})
    hub.metrics.record("in", "(rate-limited)", time.perf_counter() - started, "GenericError")

"""Routed commands: ``commands.call`` for a station held by another node.

The caller asks presence which node holds the station and sends the request (an ``ocpp``
dataclass, hub.cluster.codec) to that node's subject with NATS request/reply. The holder runs
``commands.call_here``: its session sends the CALL (one in flight per station, as on one node)
and its effects record the answer; the answer or the typed failure comes back. So callers see
exactly what they would on one node: the response dataclass, StationOffline, CallTimeout or
CallError.

A holder that dies with a call in flight stops sending heartbeats: the call fails with
StationOffline after ``DEAD_AFTER`` seconds instead of waiting out its timeout. Without NATS a
call to another node's station fails at once (StationUnreachable, a StationOffline).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from ocpp.messages import MessageType

from hub.cluster import codec
from hub.commands import CallError, CallTimeout, Commands, StationOffline, StationUnreachable
from hub.ocpp_server.codec import payload_of
from hub.ocpp_server.framing import FrameError, validate
from hub.ocpp_server.session import InvalidRequest

if TYPE_CHECKING:
    from hub.cluster.node import ClusterNode

log = logging.getLogger(__name__)
#: How often each node says it is alive, and after how long without that it counts as dead.
HEARTBEAT_SECONDS = 1.0
DEAD_AFTER = 5.0


class NatsRouter:
    """The ``hub.commands.CommandRouter`` of a cluster node."""

    def __init__(self, node: ClusterNode, commands: Commands) -> None:
        self.node = node
        self.commands = commands
        self.routed = 0
        self.served = 0
        self._serving: set[asyncio.Task[None]] = set()

    def is_connected(self, station_id: str) -> bool:
        holder = self.node.presence.holder(station_id)
        return holder is not None and holder.node != self.node.node_id \
            and self.node.alive(holder.node)

    def ocpp_version(self, station_id: str) -> str | None:
        holder = self.node.presence.holder(station_id)
        return holder.ocpp_version if holder is not None and holder.node != self.node.node_id \
            else None

    async def call(self, station_id: str, request: Any, timeout: float) -> Any:
        nc = self.node.nc
        linked = nc is not None and nc.is_connected
        # Without NATS only the mirror is asked (the bucket would make the caller wait).
        holder = await self.node.presence.lookup(station_id) if linked \
            else self.node.presence.holder(station_id)
        if holder is None or holder.node == self.node.node_id:
            raise StationOffline(station_id)
        action = type(request).__name__
        try:  # the holder would refuse it the same way; this keeps InvalidRequest local
            validate(MessageType.Call, action, payload_of(request), holder.ocpp_version)
        except FrameError as error:
            raise InvalidRequest(action, error) from None
        if nc is None or not linked:
            raise StationUnreachable(station_id, f"it is connected to node {holder.node} and "
                                                 "NATS is not reachable from this node")
        self.routed += 1
        reply = asyncio.ensure_future(nc.request(
            self.node.subject("call", holder.node), codec.encode_call(station_id, request, timeout),
            timeout=timeout + self.node.config.request_margin))
        try:
            while True:
                done, _ = await asyncio.wait({reply}, timeout=HEARTBEAT_SECONDS)
                if done:
                    break
                if not self.node.alive(holder.node):
                    self.node.presence.forget(station_id, holder.node)
                    raise StationOffline(station_id)
            message = reply.result()
        except NoRespondersError:
            self.node.presence.forget(station_id, holder.node)
            raise StationOffline(station_id) from None
        except NatsTimeout:
            raise CallTimeout(station_id, action, timeout) from None
        except (StationOffline, CallTimeout):
            raise
        except Exception as exc:  # NATS went away mid-call
            raise StationUnreachable(station_id, f"NATS failed ({exc!r})") from None
        finally:
            if not reply.done():
                reply.cancel()
        return codec.decode_answer(station_id, message.data)

    # -- the holder's side --------------------------------------------------------------------

    async def on_request(self, message: Any) -> None:
        """NATS delivers one message at a time per subscription: each call runs as its own
        task so that a slow station does not hold the others."""
        task = asyncio.ensure_future(self._serve(message))
        self._serving.add(task)
        task.add_done_callback(self._serving.discard)

    async def _serve(self, message: Any) -> None:
        started = time.perf_counter()
        try:
            station_id, request, timeout = codec.decode_call(message.data)
        except codec.MessageRefused as exc:
            log.warning("refused a routed command: %s", exc)
            await _respond(message, codec.encode_failure(exc))
            return
        self.served += 1
        try:
            response = await self.commands.call_here(station_id, request, timeout)
        except Exception as exc:
            if not isinstance(exc, StationOffline | CallTimeout | CallError):
                log.warning("routed %s to %s failed: %r", type(request).__name__, station_id,
                            exc)
            await _respond(message, codec.encode_failure(exc))
            return
        await _respond(message, codec.encode_answer(response))
        log.debug("routed %s to %s answered in %.1f ms", type(request).__name__, station_id,
                  (time.perf_counter() - started) * 1000)

    async def stop(self) -> None:
        for task in list(self._serving):
            task.cancel()
        await asyncio.gather(*self._serving, return_exceptions=True)


async def _respond(message: Any, data: bytes) -> None:
    try:
        await message.respond(data)
    except Exception as exc:  # the caller's NATS connection is gone: nobody waits
        log.debug("could not answer a routed command: %s", exc)

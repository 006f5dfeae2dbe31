"""A second OCPP backend for relay tests: a real `websockets` server whose central system is
built on the `ocpp` package (1.6 and 2.0.1), checking HTTP Basic credentials like a real CSMS.

Its answers differ from the hub's on purpose (heartbeat interval 17, a fixed current time), so a
test can tell which backend answered a charger.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as CentralSystem16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as CentralSystem201
from ocpp.v201 import call_result as result201

UPSTREAM_INTERVAL = 17
UPSTREAM_TIME = "2030-01-01T00:00:00Z"


class Upstream16(CentralSystem16):
    def __init__(self, station_id: str, connection: Any, backend: UpstreamBackend) -> None:
        super().__init__(station_id, connection, response_timeout=10)
        self.backend = backend
        self.received: list[str] = []

    @on("BootNotification")
    def on_boot(self, **kw: Any) -> Any:
        self.received.append("BootNotification")
        return result16.BootNotification(current_time=UPSTREAM_TIME,
                                         interval=UPSTREAM_INTERVAL, status="Accepted")

    @on("Heartbeat")
    def on_heartbeat(self, **kw: Any) -> Any:
        self.received.append("Heartbeat")
        return result16.Heartbeat(current_time=UPSTREAM_TIME)


class Upstream201(CentralSystem201):
    def __init__(self, station_id: str, connection: Any, backend: UpstreamBackend) -> None:
        super().__init__(station_id, connection, response_timeout=10)
        self.backend = backend
        self.received: list[str] = []

    @on("BootNotification")
    def on_boot(self, **kw: Any) -> Any:
        self.received.append("BootNotification")
        return result201.BootNotification(current_time=UPSTREAM_TIME,
                                          interval=UPSTREAM_INTERVAL, status="Accepted")

    @on("Heartbeat")
    def on_heartbeat(self, **kw: Any) -> Any:
        self.received.append("Heartbeat")
        return result201.Heartbeat(current_time=UPSTREAM_TIME)


@dataclass
class UpstreamBackend:
    """The running backend: its port, the central systems of connected stations, and the
    credentials it requires (station id -> password; a station not listed needs none)."""

    port: int = 0
    passwords: dict[str, str] = field(default_factory=dict)
    stations: dict[str, Any] = field(default_factory=dict)
    closed: list[str] = field(default_factory=list)
    connections: dict[str, Any] = field(default_factory=dict)
    authorizations: list[str | None] = field(default_factory=list)

    scheme: str = "ws"
    # Subject CNs of the TLS client certificates the stations' connections presented.
    client_cns: list[str | None] = field(default_factory=list)

    def url(self, template: bool = False) -> str:
        base = f"{self.scheme}://127.0.0.1:{self.port}/backend"
        return f"{base}/{{station_id}}" if template else base

    def check(self, connection: Any, request: Any) -> Any:
        self.authorizations.append(request.headers.get("Authorization"))
        station_id = request.path.rsplit("/", 1)[-1]
        expected = self.passwords.get(station_id)
        if expected is None:
            return None
        token = base64.b64encode(f"{station_id}:{expected}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {token}":
            return connection.respond(401, "wrong credentials\n")
        return None

    async def serve(self, connection: Any) -> None:
        station_id = connection.request.path.rsplit("/", 1)[-1]
        peercert = connection.transport.get_extra_info("peercert")
        if peercert is not None:
            self.client_cns.append(dict(rdn[0] for rdn in peercert["subject"]).get("commonName"))
        cls = Upstream201 if connection.subprotocol == "ocpp2.0.1" else Upstream16
        central = cls(station_id, connection, self)
        self.stations[station_id] = central
        self.connections[station_id] = connection
        try:
            await central.start()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed.append(station_id)


@contextlib.asynccontextmanager
async def running_upstream(ssl_context: ssl.SSLContext | None = None, **kwargs: Any
                           ) -> AsyncIterator[UpstreamBackend]:
    """The backend on 127.0.0.1 (``wss`` with ``ssl_context``)."""
    backend = UpstreamBackend(scheme="wss" if ssl_context else "ws", **kwargs)
    async with websockets.serve(backend.serve, "127.0.0.1", 0,
                                subprotocols=["ocpp1.6", "ocpp2.0.1"],
                                process_request=backend.check, ssl=ssl_context) as server:
        backend.port = next(iter(server.sockets)).getsockname()[1]
        yield backend
        server.close()
        await asyncio.wait_for(server.wait_closed(), 10)


def unused_port() -> int:
    """A port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]

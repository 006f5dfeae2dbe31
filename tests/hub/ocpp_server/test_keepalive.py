"""A charger that stops answering WebSocket pings is disconnected and marked offline."""

from __future__ import annotations

import asyncio
import base64
import os

import pytest

from hub.db.models import Station
from tests.harness import RunningHub, wait_for


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_silent_peer_is_dropped(hub_factory) -> None:
    running: RunningHub = await hub_factory(dev=True, ocpp={"websocket_ping_interval": 0.3})
    reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write((
        "GET /ocpp/CP-SILENT HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: ocpp1.6\r\n\r\n").encode())
    await writer.drain()
    status_line = await reader.readline()
    assert b"101" in status_line
    await wait_for(lambda: "CP-SILENT" in running.hub.stations)
    # From here on the peer reads nothing and never answers a ping.
    await wait_for(lambda: "CP-SILENT" not in running.hub.stations, timeout=10)

    async def offline() -> bool:
        async with running.hub.sessions() as session:
            return not (await session.get(Station, "CP-SILENT")).connected

    await wait_for(offline)
    writer.close()

"""Raw OCPP-J clients for the scale tests: hand-built frames, and sockets we control."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
from typing import Any


async def handshake_status(host: str, port: int, path: str, subprotocol: str = "ocpp1.6"
                           ) -> tuple[int, dict[str, str], bytes]:
    """Send a WebSocket upgrade request; return the HTTP status, headers and body of the
    answer (the connection is closed right after)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(upgrade_request(host, port, path, subprotocol))
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            if ":" in line:
                key, _, value = line.partition(":")
                headers[key.strip().lower()] = value.strip()
        body = b""
        if "content-length" in headers:
            body = await asyncio.wait_for(
                reader.readexactly(int(headers["content-length"])), 10)
    finally:
        writer.close()
    return int(status_line.split()[1]), headers, body


def upgrade_request(host: str, port: int, path: str, subprotocol: str = "ocpp1.6") -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {subprotocol}\r\n\r\n"
            ).encode()


def stalled_client(host: str, port: int, path: str, rcvbuf: int = 4096) -> socket.socket:
    """A blocking socket that completes the WebSocket handshake and then never reads again,
    with a small receive buffer (a charger whose firmware stopped reading its socket)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(10)
    sock.connect((host, port))
    sock.sendall(upgrade_request(host, port, path))
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)  # byte by byte: read nothing beyond the HTTP answer
        if not chunk:
            raise ConnectionError("closed during the handshake")
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def frame(message_type: int, unique_id: str, *rest: Any) -> str:
    return json.dumps([message_type, unique_id, *rest])


class StationLost(Exception):
    """The connection went away before the answer came."""


class RawStation:
    """One charge point on a raw aiohttp client WebSocket with hand-built OCPP-J frames; one
    call in flight; CSMS-initiated calls are answered NotImplemented."""

    def __init__(self, station_id: str) -> None:
        self.id = station_id
        self.ws: Any = None
        self.seq = 0

    async def connect(self, http: Any, base_url: str) -> None:
        self.ws = await http.ws_connect(f"{base_url}/{self.id}", protocols=("ocpp1.6",),
                                        heartbeat=None, autoping=True)

    async def call(self, action: str, payload: dict[str, Any]) -> tuple[int, Any]:
        """(3, payload) or (4, error code); raises StationLost when the socket goes away."""
        import aiohttp

        self.seq += 1
        uid = f"{self.id}-{self.seq}"
        try:
            await self.ws.send_str(json.dumps([2, uid, action, payload]))
            while True:
                msg = await self.ws.receive()
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    raise StationLost(f"{msg.type.name}")
                answer = json.loads(msg.data)
                if answer[0] == 2:
                    await self.ws.send_str(json.dumps([4, answer[1], "NotImplemented", "", {}]))
                elif answer[1] == uid:
                    return answer[0], answer[2]
        except (ConnectionError, RuntimeError, aiohttp.ClientError) as exc:
            raise StationLost(repr(exc)) from exc

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

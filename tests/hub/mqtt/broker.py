"""The real Mosquitto for MQTT tests (``PNC_HUB_TEST_MQTT_URL``), a listener that records what
it receives, and a TCP proxy in front of the broker that a test can cut (the shared broker
itself is never stopped)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiomqtt
import pytest
from yarl import URL

MQTT_URL = os.environ.get("PNC_HUB_TEST_MQTT_URL")
needs_broker = pytest.mark.skipif(not MQTT_URL, reason="PNC_HUB_TEST_MQTT_URL is not set")


def random_prefix() -> str:
    return f"pnc-hub-test-{uuid.uuid4().hex[:10]}"


def broker_address() -> tuple[str, int]:
    url = URL(MQTT_URL or "")
    return url.host or "127.0.0.1", url.port or 1883


class Listener:
    """Subscribes ``topic`` on the broker and keeps every message (topic, payload)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.client: aiomqtt.Client | None = None

    def on(self, suffix: str) -> list[bytes]:
        return [payload for topic, payload in self.messages if topic.endswith(suffix)]


@contextlib.asynccontextmanager
async def listening(topic: str) -> AsyncIterator[Listener]:
    host, port = broker_address()
    listener = Listener()
    async with aiomqtt.Client(host, port, identifier=f"listener-{uuid.uuid4().hex[:8]}") as c:
        listener.client = c
        await c.subscribe(topic, qos=1)

        async def collect() -> None:
            async for message in c.messages:
                listener.messages.append((message.topic.value, bytes(message.payload)))

        task = asyncio.ensure_future(collect())
        try:
            yield listener
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


@contextlib.asynccontextmanager
async def publisher() -> AsyncIterator[aiomqtt.Client]:
    host, port = broker_address()
    async with aiomqtt.Client(host, port, identifier=f"meter-{uuid.uuid4().hex[:8]}") as c:
        yield c


class CuttableProxy:
    """127.0.0.1:<port> -> the broker. ``cut()`` drops every connection and refuses new ones
    until ``restore()``: the broker "goes away" for the hub only."""

    def __init__(self) -> None:
        self.server: asyncio.base_events.Server | None = None
        self.port = 0
        self.writers: set[asyncio.StreamWriter] = set()
        self.connections = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        host, port = broker_address()
        up_reader, up_writer = await asyncio.open_connection(host, port)
        self.writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self.writers -= {writer, up_writer}

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()
        await self.server.wait_closed()

    async def restore(self) -> None:
        await self.start()  # the same port

    async def close(self) -> None:
        await self.cut()


def url_of(proxy: CuttableProxy) -> str:
    return f"mqtt://127.0.0.1:{proxy.port}"


def payload(data: bytes) -> Any:
    import orjson
    return orjson.loads(data)

"""The OCPP endpoint's protections, each against a real hub on a real socket: maximum
connections, admission control when the database is saturated, the handshake timeout, the
per-station message-rate limit, a charger that stops reading, and the frame size limits."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import sqlite3
import time
from typing import Any

import pytest
import sqlalchemy as sa
import websockets
from ocpp.v16 import call
from sqlalchemy.ext.asyncio import create_async_engine

from hub import commands
from hub.config import ConfigError, load_config
from hub.ocpp_server import flow_control
from hub.ocpp_server.admission import ADMISSION
from tests.harness import RunningHub, connect_station, wait_for
from tests.scale.wire import frame, handshake_status, stalled_client

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def _status(hub: RunningHub, station_id: str) -> tuple[int, dict[str, str], dict]:
    status, headers, body = await handshake_status("127.0.0.1", hub.port, f"/ocpp/{station_id}")
    return status, headers, (json.loads(body) if body else {})


@SQLITE_ONLY
async def test_connections_beyond_the_maximum_are_told_to_retry(hub_factory) -> None:
    hub = await hub_factory(dev=True, ocpp={"max_connections": 2, "retry_after": 3})
    async with connect_station(hub, "CP-MAX-1") as one:
        await one.boot()
        async with connect_station(hub, "CP-MAX-2"):
            await wait_for(lambda: len(hub.hub.stations) == 2)
            status, headers, body = await _status(hub, "CP-MAX-3")
            assert status == 503
            assert 3 <= int(headers["retry-after"]) <= 6
            assert body["error"] == "retry_later" and body["reason"] == "max_connections"
        await wait_for(lambda: len(hub.hub.stations) == 1)
        async with connect_station(hub, "CP-MAX-3") as three:
            assert (await three.boot()).status == "Accepted"
    assert hub.app[ADMISSION].refused == {"max_connections": 1}


@contextlib.contextmanager
def _database_locked(database_url: str):
    """Another client holds the database: SQLite's write lock, or an exclusive lock on the
    stations table in PostgreSQL (which blocks the admission reads as well)."""
    if database_url.startswith("sqlite"):
        path = sa.make_url(database_url).database
        locker = sqlite3.connect(path, timeout=5, isolation_level=None)
        locker.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        return
    yield "postgresql"


async def test_a_saturated_database_makes_handshakes_retry_later(hub_factory,
                                                                 database_url: str) -> None:
    hub = await hub_factory(dev=True, ocpp={"db_queue_limit": 3, "handshake_timeout": 1.0,
                                            "retry_after": 1})
    pg_lock = None
    if not database_url.startswith("sqlite"):
        engine = create_async_engine(database_url)
        pg_lock = await engine.connect()
        await pg_lock.begin()
        await pg_lock.execute(sa.text("LOCK TABLE stations IN ACCESS EXCLUSIVE MODE"))
    statuses: list[int] = []
    with _database_locked(database_url):
        refusal = None
        for n in range(12):
            status, headers, body = await _status(hub, f"CP-SAT-{n}")
            statuses.append(status)
            if status == 503:
                refusal = headers, body
                break
        if pg_lock is not None:
            await pg_lock.rollback()
            await pg_lock.close()
            await engine.dispose()
    assert refusal is not None, statuses
    headers, body = refusal
    assert 1 <= int(headers["retry-after"]) <= 2
    assert body["reason"] in {"database_busy", "timeout"}
    # The hub recovers by itself once the database is back.
    await wait_for(lambda: hub.hub.committer.queue_depth == 0, timeout=30)
    async with connect_station(hub, "CP-SAT-AFTER") as station:
        assert (await station.boot()).status == "Accepted"


async def _answer_then_close(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes (b"" for a bare close)."""
    try:
        return await asyncio.wait_for(reader.read(), 10)
    except ConnectionError:
        return b""


@SQLITE_ONLY
async def test_silent_and_slow_handshakes_are_answered_408_then_closed(hub_factory) -> None:
    hub = await hub_factory(dev=True, ocpp={"upgrade_timeout": 0.5})
    silent_reader, silent_writer = await asyncio.open_connection("127.0.0.1", hub.port)
    slow_reader, slow_writer = await asyncio.open_connection("127.0.0.1", hub.port)
    slow_writer.write(b"GET /ocpp/CP-SLOW HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n")
    await slow_writer.drain()
    for reader in (silent_reader, slow_reader):
        answer = await _answer_then_close(reader)
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert b"Connection: close" in answer and answer.endswith(b"}")
    silent_writer.close()
    slow_writer.close()
    # A complete handshake is not affected, nor is a session that outlives the timeout.
    async with connect_station(hub, "CP-FAST") as station:
        await asyncio.sleep(1.0)
        assert (await station.boot()).status == "Accepted"


class FrozenClock:
    """flow_control's ``time`` with a monotonic clock the test moves: the bucket refills only
    when the test says so, not when a loaded machine is slow with eight frames."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def monotonic(self) -> float:
        return self.now

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@SQLITE_ONLY
async def test_a_late_upgrade_gets_its_own_time_not_the_keep_alive_time(hub_factory) -> None:
    """A charger that connects, then sends its upgrade after the keep-alive time (0.2 s here)
    but well within the upgrade time (30 s) is served."""
    hub = await hub_factory(dev=True, ocpp={"handshake_timeout": 0.2, "upgrade_timeout": 30})
    reader, writer = await asyncio.open_connection("127.0.0.1", hub.port)
    await asyncio.sleep(1.0)  # five keep-alive times
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write((
        "GET /ocpp/CP-LATE HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: ocpp1.6\r\n\r\n").encode())
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 10)
    assert status_line.startswith(b"HTTP/1.1 101 "), status_line
    writer.close()


@SQLITE_ONLY
async def test_message_rate_limit_answers_with_callerror(hub_factory, monkeypatch) -> None:
    clock = FrozenClock()
    monkeypatch.setattr(flow_control, "time", clock)
    hub = await hub_factory(dev=True, ocpp={"rate_limit": 1, "rate_burst": 3})
    async with websockets.connect(hub.ws_url("CP-RATE"), subprotocols=["ocpp1.6"]) as ws:
        for n in range(8):  # pipelined: no waiting for answers
            await ws.send(frame(2, f"h{n}", "Heartbeat", {}))
        answers = [json.loads(await ws.recv()) for _ in range(8)]
        assert [a[1] for a in answers] == [f"h{n}" for n in range(8)]
        assert [a[0] for a in answers[:3]] == [3, 3, 3]
        for refused in answers[3:]:
            assert refused[0] == 4 and refused[2] == "GenericError"
            assert "rate limit" in refused[3] and refused[4]["retryAfter"] > 0

        # Over the limit, an answer to the hub's own call still gets through.
        command = asyncio.create_task(hub.hub.commands.call(
            "CP-RATE", call.GetLocalListVersion(), timeout=5))
        request = json.loads(await ws.recv())
        assert request[:3] == [2, request[1], "GetLocalListVersion"]
        await ws.send(frame(3, request[1], {"listVersion": 4}))
        assert (await command).list_version == 4

        # A malformed frame over the limit still gets the CALLERROR the spec gives it.
        await ws.send('[2, "bad", "Heartbeat"]')
        assert json.loads(await ws.recv())[:3] == [4, "bad", "ProtocolError"]

        clock.now += 1.5  # the bucket refills at one message per second
        await ws.send(frame(2, "later", "Heartbeat", {}))
        answer = json.loads(await ws.recv())
        assert answer[:2] == [3, "later"]
    assert hub.hub.metrics.snapshot("in")["(rate-limited)"]["errors"] == 5


@SQLITE_ONLY
@pytest.mark.parametrize("limit", ["buffer", "send_timeout"])
async def test_a_charger_that_stops_reading_is_cut_off(hub_factory, limit: str) -> None:
    buffer_cap = 300_000 if limit == "buffer" else 50_000_000
    hub = await hub_factory(dev=True, ocpp={"send_timeout": 0.5,
                                            "send_buffer_bytes": buffer_cap})
    sock = await asyncio.to_thread(stalled_client, "127.0.0.1", hub.port, "/ocpp/CP-STALL")
    try:
        session = await wait_for(lambda: hub.hub.stations.get("CP-STALL"))
        transport = session.ws._req.transport
        # Small kernel buffers on the hub's side too, so that they fill after a few frames.
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
        payload = "A" * 100_000
        command_timeout = 0.2 if limit == "buffer" else 1.5
        most_buffered = 0
        outcome = None
        for _ in range(100):
            try:
                await hub.hub.commands.call("CP-STALL", call.DataTransfer(
                    vendor_id="x", data=payload), timeout=command_timeout)
            except commands.CallTimeout:
                most_buffered = max(most_buffered, transport.get_write_buffer_size())
                continue
            except commands.StationOffline as exc:
                outcome = exc
                break
        assert isinstance(outcome, commands.StationOffline)
        # Never more than the cap plus the one frame that was written below it.
        assert most_buffered <= buffer_cap + len(payload) + 200
        await wait_for(lambda: hub.hub.stations.get("CP-STALL") is None)
        assert transport.is_closing()
    finally:
        sock.close()
    # The hub is fine: other stations connect and work.
    async with connect_station(hub, "CP-OTHER") as other:
        assert (await other.boot()).status == "Accepted"


@SQLITE_ONLY
async def test_frames_above_the_hard_limit_close_the_socket(hub_factory) -> None:
    hub = await hub_factory(dev=True, ocpp={"max_frame_bytes": 1000})
    async with websockets.connect(hub.ws_url("CP-BIG"), subprotocols=["ocpp1.6"]) as ws:
        await ws.send(frame(2, "soft", "DataTransfer", {"vendorId": "x", "data": "A" * 1500}))
        answer = json.loads(await ws.recv())
        assert answer[:3] == [4, "soft", "FormationViolation"]
        await ws.send(frame(2, "hard", "DataTransfer", {"vendorId": "x", "data": "A" * 20_000}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


def test_protection_settings_are_validated() -> None:
    config = load_config(env={"PNC_HUB_OCPP__RATE_LIMIT": "0", "PNC_HUB_OCPP__MAX_CONNECTIONS":
                              "100", "PNC_HUB_SERVER__BACKLOG": "64"})
    assert (config.ocpp.rate_limit, config.ocpp.max_connections, config.server.backlog) == (
        0, 100, 64)
    for bad in ({"PNC_HUB_OCPP__HANDSHAKE_TIMEOUT": "0"}, {"PNC_HUB_OCPP__RATE_BURST": "0"},
                {"PNC_HUB_OCPP__MAX_CONNECTIONS": "-1"}, {"PNC_HUB_SERVER__BACKLOG": "0"}):
        with pytest.raises(ConfigError):
            load_config(env=bad)


@contextlib.asynccontextmanager
async def _released(event: asyncio.Event):  # noqa: ANN202
    try:
        yield
    finally:
        event.set()  # never leave the committer stuck (the hub could not stop)


@SQLITE_ONLY
async def test_a_deep_commit_queue_holds_busy_sockets_and_refuses_handshakes(
        hub_factory) -> None:
    hub = await hub_factory(dev=True, ocpp={"db_queue_limit": 4, "busy_messages_per_second": 2,
                                            "retry_after": 1})
    committer = hub.hub.committer
    release, entered = asyncio.Event(), asyncio.Event()

    async def stuck(conn: object) -> None:
        entered.set()
        await release.wait()

    async with websockets.connect(hub.ws_url("CP-BUSY"), subprotocols=["ocpp1.6"]) as ws, \
            _released(release):
        await wait_for(lambda: "CP-BUSY" in hub.hub.stations)
        session = hub.hub.stations.get("CP-BUSY")
        # The database stalls: the writer is inside one unit and more queue up behind it.
        blocked = [asyncio.create_task(committer.run(stuck))]
        await asyncio.wait_for(entered.wait(), 10)
        blocked += [asyncio.create_task(committer.run(None)) for _ in range(5)]
        await wait_for(lambda: committer.queue_depth >= 5)

        status, headers, body = await _status(hub, "CP-NEW")
        assert status == 503 and int(headers["retry-after"]) >= 1, (status, body)
        assert body["reason"] == "database_busy"

        for n in range(5):  # pipelined, far above 2 per second
            await ws.send(frame(2, f"h{n}", "Heartbeat", {}))
        pressure = hub.app[ADMISSION].pressure
        await wait_for(lambda: pressure.holding >= 1)
        # The third frame waits in the socket: the session has not read it.
        assert session.messages_in == 2
        release.set()
        answers = [json.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in range(5)]
        assert [a[1] for a in answers] == [f"h{n}" for n in range(5)]
        assert all(a[0] == 3 for a in answers)
        await asyncio.gather(*blocked)
    assert hub.app[ADMISSION].stats()["back_pressure"]["holds"] >= 1

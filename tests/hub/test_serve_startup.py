"""`pnc-hub serve` as an operator meets it: bound before it announces, one clear line and exit
code 2 when it cannot start (no traceback, no token minted), one dev token across restarts,
station activity and HTTP access in the log without secrets, oversized requests answered
414/431 in the JSON error shape."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from pathlib import Path

import aiohttp
import pytest
import sqlalchemy as sa
import websockets
from ocpp.v16 import call

from hub.db import create_engine
from hub.db.models import ApiToken
from tests.harness import TestStation, now, running_charge_point
from tests.harness.process import ROOT, cli, free_port

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


class Serving:
    """`pnc-hub serve` in a child process whose output is read line by line."""

    def __init__(self, database_url: str, *args: str, log: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.argv = [sys.executable, "-m", "hub", *log, "serve", "--host", "127.0.0.1",
                     "--port", str(self.port), "--database-url", database_url, *args]
        self.lines: list[str] = []
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, files_dir: Path) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "PNC_HUB_FILES__DATA_DIR": str(files_dir)})

    async def until(self, text: str) -> str:
        """Read output until a line containing ``text`` (bounded: the hub gives up first)."""
        assert self.proc is not None and self.proc.stdout is not None
        while True:
            line = (await asyncio.wait_for(self.proc.stdout.readline(), 60)).decode()
            assert line, f"hub exited before printing {text!r}:\n{''.join(self.lines)}"
            self.lines.append(line)
            if text in line:
                return line

    async def stop(self) -> str:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.terminate()
        rest, _ = await asyncio.wait_for(self.proc.communicate(), 60)
        self.lines.append(rest.decode())
        return "".join(self.lines)

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"


async def _refused(database_url: str, *args: str, env: dict[str, str] | None = None,
                   port: int | None = None) -> tuple[str, str]:
    argv = ["serve", "--dev", "--host", "127.0.0.1", "--port", str(port or free_port()),
            "--database-url", database_url, *args]
    done = await asyncio.to_thread(cli, *argv, env=env)
    assert done.returncode == 2, done
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "Admin token" not in done.stdout and "listening" not in done.stdout, done.stdout
    return done.stdout, done.stderr


async def test_a_taken_port_is_one_line_and_exit_2(database_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        _, err = await _refused(database_url, port=port)
    assert err.startswith(f"pnc-hub: cannot listen on 127.0.0.1:{port}"), err
    # Nothing was minted before the port was found taken.
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
            tokens = (await conn.execute(sa.select(sa.func.count()).select_from(ApiToken))
                      ).scalar() if "api_tokens" in tables else 0
    finally:
        await engine.dispose()
    assert tokens == 0


async def test_bad_config_and_unreachable_database_are_one_line(database_url: str,
                                                                tmp_path: Path) -> None:
    _, err = await _refused("postgresql+asyncpg://hub:s3cret@127.0.0.1:1/hub")
    assert err.startswith("pnc-hub: cannot use the database postgresql+asyncpg://hub:***@")
    assert "s3cret" not in err
    _, err = await _refused(f"sqlite+aiosqlite:///{tmp_path}/missing/dir/hub.db")
    assert err.startswith("pnc-hub: cannot use the database"), err
    bad = tmp_path / "bad.toml"
    bad.write_text("[server\nport = 1\n")
    _, err = await _refused(database_url, "--config", str(bad))
    assert "not valid TOML" in err
    _, err = await _refused(database_url, "--config", str(tmp_path))  # a directory
    assert err.startswith("pnc-hub: ") and str(tmp_path) in err
    _, err = await _refused(database_url, env={"PNC_HUB_OCPP__HEARTBEAT_INTERVAL": "often"})
    assert "ocpp.heartbeat_interval" in err


async def test_announced_only_once_serving_and_one_dev_token(database_url: str,
                                                             tmp_path: Path) -> None:
    tokens = []
    for _ in range(2):
        hub = Serving(database_url, "--dev")
        await hub.start(tmp_path)
        try:
            await hub.until("listening on")
            # Announced means serving: the first request after the line succeeds, no retry.
            async with aiohttp.ClientSession() as http, http.get(hub.http + "/") as resp:
                assert resp.status == 200
        finally:
            output = await hub.stop()
        tokens += [line.split(": ", 1)[1].strip() for line in output.splitlines()
                   if line.startswith("Admin token (dev): ")]
        assert output.index("Admin token (dev)") < output.index("listening on")
    assert len(tokens) == 2 and tokens[0] == tokens[1]
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            active = (await conn.execute(sa.select(sa.func.count()).select_from(ApiToken).where(
                ApiToken.revoked_at.is_(None)))).scalar()
    finally:
        await engine.dispose()
    assert active == 1


async def _station_session(hub: Serving, token: str) -> None:
    async with websockets.connect(f"ws://127.0.0.1:{hub.port}/ocpp/CP-LOG",
                                  subprotocols=["ocpp1.6"], open_timeout=10) as ws:
        async with running_charge_point(TestStation("CP-LOG", ws)) as cp:
            await cp.boot()
            started = await cp.call(call.StartTransaction(
                connector_id=1, id_tag="TAG-LOG", meter_start=100, timestamp=now()))
            await cp.call(call.StopTransaction(
                transaction_id=started.transaction_id, meter_stop=1100, timestamp=now()))
            async with aiohttp.ClientSession() as http:
                async with http.post(f"{hub.http}/api/reset", json={"station_id": "CP-LOG"},
                                     headers={"Authorization": f"Bearer {token}"}) as resp:
                    assert resp.status == 200, await resp.text()
                # Secrets in paths and query strings, and a bearer header.
                async with http.get(f"{hub.http}/firmware/tok-in-path-123/fw.bin",
                                    params={"token": "tok-in-query-456"}) as resp:
                    assert resp.status in (401, 403, 404)


async def _oversized(port: int, request: bytes) -> tuple[int, dict[str, object]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), 30)
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


async def test_activity_and_access_logs_as_json(database_url: str, tmp_path: Path) -> None:
    hub = Serving(database_url, "--dev", log=("--log-level", "INFO", "--log-format", "json"))
    await hub.start(tmp_path)
    try:
        token = (await hub.until("Admin token (dev): ")).split(": ", 1)[1].strip()
        await hub.until("listening on")
        await _station_session(hub, token)
        status, body = await _oversized(
            hub.port, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: hub\r\n\r\n")
        assert (status, body["error"]) == (414, "uri_too_long"), body
        status, body = await _oversized(
            hub.port, b"GET / HTTP/1.1\r\nHost: hub\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n")
        assert (status, body["error"]) == (431, "header_fields_too_large"), body
        await hub.until("disconnected")
    finally:
        output = await hub.stop()
    records = [json.loads(line) for line in output.splitlines()
               if line.startswith("{")]
    messages = [r["message"] for r in records]
    activity = [m for r, m in zip(records, messages, strict=True)
                if r["logger"] == "pnc_hub.activity"]
    for expected in ("station CP-LOG connected (OCPP 1.6", "station CP-LOG booted: Accepted",
                     "transaction 1 started (meter 100 Wh)", "transaction 1 stopped (meter 1100",
                     "command Reset sent to station CP-LOG: Accepted",
                     "station CP-LOG disconnected"):
        assert any(expected in m for m in activity), (expected, activity)
    access = [m for r, m in zip(records, messages, strict=True)
              if r["logger"] == "pnc_hub.access"]
    assert any('"POST /api/reset" 200' in m for m in access), access
    assert any("/firmware/***/fw.bin?token=***" in m for m in access), access
    logged = "\n".join(line for line in output.splitlines()
                       if not line.startswith("Admin token (dev): "))  # printed on purpose
    for secret in ("tok-in-path-123", "tok-in-query-456", token):
        assert secret not in logged
    assert "Traceback" not in output, [(r["message"], r.get("exception", "")[-800:])
                                       for r in records if "exception" in r]
    assert not [r for r in records if r["level"] == "ERROR"]

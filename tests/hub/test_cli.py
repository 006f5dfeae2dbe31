"""The command line: db upgrade, station add, idtag add, token create, serve --dev."""

from __future__ import annotations

import asyncio
import hashlib

import aiohttp
import pytest
import sqlalchemy as sa

from hub.db import create_engine
from hub.db.models import ApiToken, IdTag, Station
from hub.services.stations import verify_password
from tests.harness.process import HubProcess, cli, free_port


async def _row(url: str, model, key):
    engine = create_engine(url)
    async with engine.connect() as conn:
        table = model.__table__
        row = (await conn.execute(sa.select(table).where(
            list(table.primary_key.columns)[0] == key))).first()
    await engine.dispose()
    return row


async def test_admin_commands(database_url: str) -> None:
    url = ["--database-url", database_url]
    upgraded = await asyncio.to_thread(cli, "db", "upgrade", *url)
    assert upgraded.returncode == 0, upgraded.stderr
    added = await asyncio.to_thread(cli, "station", "add", "CP-CLI", "--password",
                                    "a-long-station-key", *url)
    assert added.returncode == 0, added.stderr
    station = await _row(database_url, Station, "CP-CLI")
    assert verify_password("a-long-station-key", station.password_hash)

    tag = await asyncio.to_thread(cli, "idtag", "add", "RFID1", "--expiry",
                                  "2030-01-01T00:00:00Z", "--parent", "GROUP", "--blocked", *url)
    assert tag.returncode == 0, tag.stderr
    row = await _row(database_url, IdTag, "RFID1")
    assert (row.parent_id_tag, row.blocked) == ("GROUP", True)

    created = await asyncio.to_thread(cli, "token", "create", "--name", "ops", *url)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("pnch_")
    engine = create_engine(database_url)
    async with engine.connect() as conn:
        stored = (await conn.execute(sa.select(ApiToken.token_hash, ApiToken.scopes))).one()
    await engine.dispose()
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in stored.token_hash and stored.scopes == "admin"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_bad_input_exits_with_a_reason(database_url: str) -> None:
    short = await asyncio.to_thread(cli, "station", "add", "CP-X", "--password", "short",
                                    "--database-url", database_url)
    assert short.returncode == 2 and "16 to 40" in short.stderr
    bad_date = await asyncio.to_thread(cli, "idtag", "add", "T", "--expiry", "soon",
                                       "--database-url", database_url)
    assert bad_date.returncode == 2 and "timestamp" in bad_date.stderr
    bad_env = await asyncio.to_thread(cli, "db", "upgrade", "--database-url", database_url,
                                      env={"PNC_HUB_SERVER__PORT": "not-a-port"})
    assert bad_env.returncode == 2 and "server.port" in bad_env.stderr


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_serve_dev_prints_a_working_admin_token(database_url: str) -> None:
    hub = HubProcess(database_url, free_port(), "--dev")
    await hub.start()
    try:
        await asyncio.sleep(0.2)
    finally:
        output = hub.terminate()
    lines = [line for line in output.splitlines() if line.startswith("Admin token (dev): ")]
    assert lines, output
    token = lines[0].split(": ", 1)[1]
    hub = HubProcess(database_url, free_port())
    await hub.start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{hub.port}/api/openapi.json",
                                headers={"Authorization": f"Bearer {token}"}) as resp:
                assert resp.status == 200
    finally:
        hub.terminate()

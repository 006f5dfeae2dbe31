"""Issue 14, finding 4: live secrets at rest. After full diagnostics cycles (HTTP PUT, FTP,
GetLog, and an external location with a password), no upload token or password the stations
were given appears in any column of any table; the SQLite files are the hub user's only."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import aiohttp
import sqlalchemy as sa
from ocpp.v16 import call, call_result
from yarl import URL

from hub.db.engine import is_sqlite
from tests.harness import RunningHub, TestStation, wait_for
from tests.hub.files.conftest import STATION, Background, api, request_state
from tests.hub.files.test_diagnostics_cycle import ftp_upload, put, uploading_station

EXTERNAL_PASSWORD = "s3cret-external-pw"


def secret_of(location: str) -> str:
    """The credential in a location the hub gave a station: the FTP password or the token."""
    url = URL(location)
    return url.password if url.scheme == "ftp" else url.path.rstrip("/").rsplit("/", 1)[-1]


async def every_stored_value(running: RunningHub) -> list[tuple[str, str, Any]]:
    """(table, column, value) of every non-null cell of every table (schema from inspection)."""

    def scan(conn: sa.Connection) -> list[tuple[str, str, Any]]:
        inspector = sa.inspect(conn)
        cells = []
        for table in inspector.get_table_names():
            columns = [c["name"] for c in inspector.get_columns(table)]
            quoted = ", ".join(f'"{c}"' for c in columns)
            for row in conn.execute(sa.text(f'SELECT {quoted} FROM "{table}"')):
                cells.extend((table, c, v) for c, v in zip(columns, row, strict=True)
                             if v is not None)
        return cells

    async with running.hub.engine.connect() as conn:
        return await conn.run_sync(scan)


async def run_cycles(hub: RunningHub, http: aiohttp.ClientSession, station: TestStation,
                     background: Background) -> list[str]:
    secrets: list[str] = []
    for transport in ("http", "ftp"):
        async def send(location: str, transport: str = transport) -> None:
            if transport == "http":
                assert await put(http, location + "/diag.zip", b"diagnostics") == 200
            else:
                await ftp_upload(location, b"diagnostics")

        uploading_station(station, background, send)
        body = await api(hub, http, "POST", "/api/getDiagnostics",
                         json={"station_id": STATION, "transport": transport})
        secrets.append(secret_of(station.received[-1].payload["location"]))
        await background.wait()
        await request_state(hub, http, "diagnostics", body["request_id"], "complete")

    async def upload_log(location: str, request_id: int) -> None:
        await station.call(call.LogStatusNotification(status="Uploading", request_id=request_id))
        assert await put(http, location + "/security.log", b"log") == 200
        await station.call(call.LogStatusNotification(status="Uploaded", request_id=request_id))

    station.answers["GetLog"] = lambda **kw: (
        background.start(upload_log(kw["log"]["remote_location"], kw["request_id"]))
        or call_result.GetLog(status="Accepted", filename="security.log"))
    body = await api(hub, http, "POST", "/api/getLog",
                     json={"station_id": STATION, "log_type": "SecurityLog"})
    secrets.append(secret_of(station.received[-1].payload["log"]["remote_location"]))
    await background.wait()
    await request_state(hub, http, "diagnostics", body["request_id"], "complete")

    # An operator's own server: its password is not the hub's, and is not kept either.
    station.answers["GetDiagnostics"] = call_result.GetDiagnostics(file_name="d.zip")
    await api(hub, http, "POST", "/api/getDiagnostics", json={
        "station_id": STATION, "location": f"ftp://ops:{EXTERNAL_PASSWORD}@elsewhere.example/"})
    assert EXTERNAL_PASSWORD in station.received[-1].payload["location"]
    secrets.append(EXTERNAL_PASSWORD)
    return secrets


async def test_no_live_token_or_password_is_stored_anywhere(
        hub: RunningHub, http: aiohttp.ClientSession, station: TestStation,
        background: Background) -> None:
    secrets = await run_cycles(hub, http, station, background)
    assert len(set(secrets)) == 4 and all(len(s) >= 16 for s in secrets), secrets
    log = hub.hub.message_log
    await wait_for(lambda: log.written + log.dropped >= log.enqueued, timeout=10)
    assert log.dropped == 0

    cells = await every_stored_value(hub)
    tables = {table for table, _, _ in cells}
    assert {"ocpp_messages", "diagnostics_requests"} <= tables, tables
    logged = [v for t, c, v in cells if t == "ocpp_messages" and c == "payload"
              and ("GetDiagnostics" in v or "GetLog" in v)]
    leaks = [(table, column, value) for table, column, value in cells
             for secret in secrets
             if secret in (value.decode("latin-1") if isinstance(value, bytes) else str(value))]
    assert leaks == []
    # The commands are still logged, with the credentials redacted.
    assert len(logged) >= 4 and all("***" in v for v in logged), logged


async def test_sqlite_database_files_are_the_owners_only(
        hub: RunningHub, station: TestStation) -> None:
    url = hub.hub.engine.url
    if not is_sqlite(url):
        return  # PostgreSQL: the server's own files
    database = Path(url.database)
    # Writes happened (the station's boot): the WAL and shared-memory files exist beside it.
    files = [database, Path(f"{database}-wal"), Path(f"{database}-shm")]
    assert all(f.exists() for f in files), os.listdir(database.parent)
    modes = {f.name: oct(stat.S_IMODE(f.stat().st_mode)) for f in files}
    assert set(modes.values()) == {"0o600"}, modes


def test_every_location_command_is_logged_redacted() -> None:
    """The firmware commands and 2.0.1 GetLog too, whatever field holds the location."""
    from hub.files.tokens import DOWNLOAD_PREFIX, UPLOAD_PREFIX, new_token
    from hub.ocpp_server.message_log import MessageLog

    upload, download = new_token(UPLOAD_PREFIX), new_token(DOWNLOAD_PREFIX)
    frames = {
        "UpdateFirmware": f'[2,"1","UpdateFirmware",{{"requestId":1,"firmware":{{"location":'
                          f'"http://hub/firmware/{download}/fw.bin"}}}}]',
        "SignedUpdateFirmware": '[2,"2","SignedUpdateFirmware",{"firmware":{"location":'
                                '"ftp://vendor:hunter2-secret@files.example/fw.bin"}}]',
        "GetLog": f'[2,"3","GetLog",{{"log":{{"remoteLocation":'
                  f'"http://hub/upload_diagnostics/{upload}"}},"logType":"DiagnosticsLog"}}]',
    }
    log = MessageLog(committer=None)  # type: ignore[arg-type] - record() only queues
    for action, frame in frames.items():
        log.record("CP-1", "out", 2, "1", action, frame)
    stored = [log._queue.get_nowait()["payload"] for _ in frames]
    for secret in (upload, download, "hunter2-secret"):
        assert not [p for p in stored if secret in p], stored
    assert all("***" in p for p in stored), stored

"""The hub's PostgreSQL database goes away under load, as in a server restart: every connection
of the hub is terminated and new ones are refused for a while. The stations' sessions stay up,
calls that need the database get an OCPP InternalError meanwhile (nothing crashes), and the hub
recovers by itself: its pool reconnects (pool_pre_ping) and the group committer goes on.

The outage is made on the test's own database only (its backends terminated, connections
refused with ALLOW_CONNECTIONS false), not by restarting the cluster: other test runs sharing
the server (two suites at once) are not touched. Runs wherever PNC_HUB_TEST_POSTGRES_URL is set.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from hub.db import create_engine
from hub.db.models import Transaction
from tests.conftest import POSTGRES_URL
from tests.harness import wait_for
from tests.harness.process import free_port
from tests.scale.process import LoggedHubProcess, upgrade_schema
from tests.scale.wire import RawStation, StationLost, handshake_status

STATIONS = 30
CRASH_MARKERS = ("Error handling request", "exception was never retrieved", "Task was destroyed")


#: How long the database refuses connections (a restart of a small cluster takes about this).
OUTAGE_SECONDS = 2.0


async def _database_outage(database_url: str, seconds: float = OUTAGE_SECONDS) -> None:
    """Take the hub's database away: refuse new connections, end the open ones, then come
    back after ``seconds``."""
    name = sa.make_url(database_url).database
    assert POSTGRES_URL and name
    admin = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            try:
                ended = (await conn.execute(sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})).scalar()
                assert ended, "the hub held no connection to end"
                await asyncio.sleep(seconds)
            finally:
                await conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
    finally:
        await admin.dispose()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Outcomes:
    def __init__(self) -> None:
        self.by_phase: dict[str, Counter[str]] = {"before": Counter(), "during": Counter(),
                                                  "after": Counter()}
        self.phase = "before"
        self.started: dict[int, tuple[str, int]] = {}
        self.recovered: set[str] = set()
        self.lost = 0

    def record(self, station: str, kind: int, body: object, action: str) -> None:
        outcome = f"{action}:ok" if kind == 3 else f"{action}:{body}"
        self.by_phase[self.phase][outcome] += 1
        if kind == 3 and self.phase == "after" and action == "StatusNotification":
            self.recovered.add(station)


async def _run_station(station: RawStation, outcomes: Outcomes, stop: asyncio.Event) -> None:
    meter = 0
    while not stop.is_set():
        try:
            kind, body = await station.call("Heartbeat", {})
            outcomes.record(station.id, kind, body, "Heartbeat")
            kind, body = await station.call("StatusNotification", {
                "connectorId": 1, "errorCode": "NoError", "status": "Available",
                "timestamp": _now()})
            outcomes.record(station.id, kind, body, "StatusNotification")
            meter += 1
            kind, body = await station.call("StartTransaction", {
                "connectorId": 1, "idTag": "PG-TAG", "meterStart": meter, "timestamp": _now()})
            outcomes.record(station.id, kind, body, "StartTransaction")
            if kind == 3:
                outcomes.started[body["transactionId"]] = (station.id, meter)
        except StationLost:
            outcomes.lost += 1
            return
        await asyncio.sleep(random.uniform(0.1, 0.3))


async def test_database_outage_under_load(postgres_url: str, tmp_path: Path) -> None:
    upgrade_schema(postgres_url)
    hub = LoggedHubProcess(postgres_url, free_port(), tmp_path / "hub.log", "--dev",
                           log_level="INFO")
    await hub.start()
    base_url = f"ws://127.0.0.1:{hub.port}/ocpp"
    outcomes = Outcomes()
    stop = asyncio.Event()
    stations = [RawStation(f"PG-{n:03d}") for n in range(STATIONS)]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        for station in stations:
            await station.connect(http, base_url)
            kind, _ = await station.call("BootNotification", {
                "chargePointVendor": "ACME", "chargePointModel": "PG"})
            assert kind == 3
        runs = [asyncio.create_task(_run_station(s, outcomes, stop)) for s in stations]
        try:
            await asyncio.sleep(1.5)
            outcomes.phase = "during"
            outage = asyncio.create_task(_database_outage(postgres_url))
            await asyncio.sleep(0.2)
            # A handshake while the database is away: told to retry, or (already back) admitted.
            status, _, _ = await handshake_status("127.0.0.1", hub.port, "/ocpp/PG-DURING")
            assert status in {101, 503}, status
            await outage
            outcomes.phase = "after"
            # Recovery by itself: every station's database-backed calls succeed again.
            await wait_for(lambda: len(outcomes.recovered) == STATIONS, timeout=30)
            stop.set()
            await asyncio.wait_for(asyncio.gather(*runs), 30)
            # A new station is admitted (admission read) and recorded (group commit).
            newcomer = RawStation("PG-NEW")
            await newcomer.connect(http, base_url)
            kind, body = await newcomer.call("BootNotification", {
                "chargePointVendor": "ACME", "chargePointModel": "PG"})
            assert kind == 3 and body["status"] == "Accepted"
            await newcomer.close()
        finally:
            stop.set()
            for run in runs:
                run.cancel()
            await asyncio.gather(*runs, return_exceptions=True)
            for station in stations:
                await station.close()
    assert hub.proc is not None and hub.proc.poll() is None, "the hub died"
    log = hub.terminate()

    assert outcomes.lost == 0, "a session was dropped"
    errors = {outcome.split(":", 1)[1] for phase in outcomes.by_phase.values()
              for outcome in phase if not outcome.endswith(":ok")}
    assert errors <= {"InternalError"}, outcomes.by_phase
    # The outage was felt (writes refused), not slept through.
    assert outcomes.by_phase["during"]["StartTransaction:InternalError"] > 0, outcomes.by_phase
    assert not any(marker in log for marker in CRASH_MARKERS), log[-5000:]

    engine = create_engine(postgres_url)
    try:
        async with engine.connect() as conn:
            rows = {row.id: row for row in (await conn.execute(sa.select(
                Transaction.id, Transaction.station_id, Transaction.meter_start))).all()}
    finally:
        await engine.dispose()
    for tx, (station_id, meter_start) in outcomes.started.items():
        assert (rows[tx].station_id, rows[tx].meter_start) == (station_id, meter_start)

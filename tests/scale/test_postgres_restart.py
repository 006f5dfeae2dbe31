"""PostgreSQL restarted under load: the stations' sessions stay up, calls that need the database
get an OCPP InternalError meanwhile (nothing crashes), and the hub recovers by itself: its pool
reconnects (pool_pre_ping) and the group committer goes on.

Runs only where PNC_HUB_TEST_POSTGRES_URL points at a local cluster this test may restart
(``pg_ctlcluster``, as root); skipped elsewhere. Note: it restarts the whole cluster.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import subprocess
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
import sqlalchemy as sa

from hub.db import create_engine
from hub.db.models import Transaction
from tests.conftest import POSTGRES_URL
from tests.hub.harness import wait_for
from tests.hub.process import free_port
from tests.scale.process import LoggedHubProcess, upgrade_schema
from tests.scale.wire import RawStation, StationLost, handshake_status

STATIONS = 30
CRASH_MARKERS = ("Error handling request", "exception was never retrieved", "Task was destroyed")


def _restart_command() -> list[str] | None:
    if not POSTGRES_URL or shutil.which("pg_ctlcluster") is None or os.geteuid() != 0:
        return None
    if sa.make_url(POSTGRES_URL).host not in {"127.0.0.1", "localhost", "::1", None}:
        return None
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if not versions:
        return None
    return ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "restart"]


RESTART = _restart_command()
pytestmark = pytest.mark.skipif(RESTART is None, reason="needs a local PostgreSQL cluster this "
                                "test may restart (PNC_HUB_TEST_POSTGRES_URL, pg_ctlcluster, root)")


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


async def test_postgres_restart_under_load(postgres_url: str, tmp_path: Path) -> None:
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
            restart = asyncio.create_task(asyncio.to_thread(
                subprocess.run, RESTART, capture_output=True, text=True, timeout=60))
            await asyncio.sleep(0.2)
            # A handshake while the database is away: told to retry, or (already back) admitted.
            status, _, _ = await handshake_status("127.0.0.1", hub.port, "/ocpp/PG-DURING")
            assert status in {101, 503}, status
            done = await restart
            assert done.returncode == 0, done.stdout + done.stderr
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

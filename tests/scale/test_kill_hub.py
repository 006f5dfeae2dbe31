"""SIGKILL of the hub process while 200 stations run transactions.

A charger takes a message as delivered once it has the CALLRESULT. So after the kill and a
restart on the same database: every StartTransaction and StopTransaction that was answered is
there, with what the station sent; no transaction id was handed out twice (before and after the
crash); and every station reconnects by itself and goes on (closing the transaction it had open,
as a charger does after a reconnect)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import sqlalchemy as sa

from hub.db import create_engine
from hub.db.models import Transaction
from tests.harness import wait_for
from tests.harness.process import free_port
from tests.scale.process import LoggedHubProcess, upgrade_schema
from tests.scale.wire import RawStation, StationLost

STATIONS = 200
RUN_BEFORE_KILL = 1.5
RUN_AFTER_RESTART = 1.5


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Ledger:
    """What the hub answered, i.e. what it promised to have stored."""

    started: dict[int, tuple[str, int]] = field(default_factory=dict)  # tx id -> station, meter
    stopped: dict[int, int] = field(default_factory=dict)  # tx id -> meter stop
    reused: list[int] = field(default_factory=list)
    boots: dict[str, int] = field(default_factory=dict)  # station -> accepted boots
    lost: int = 0


async def _run_station(station: RawStation, http: aiohttp.ClientSession, base_url: str,
                       ledger: Ledger, stop: asyncio.Event) -> None:
    meter = 0
    open_tx: int | None = None
    stop_message: dict[str, object] | None = None
    while True:
        # (Re)connect with a charger's back-off until the hub is there.
        while station.ws is None or station.ws.closed:
            if stop.is_set():
                return
            try:
                await station.connect(http, base_url)
                kind, body = await station.call("BootNotification", {
                    "chargePointVendor": "ACME", "chargePointModel": "Kill"})
                if kind == 3 and body["status"] == "Accepted":
                    ledger.boots[station.id] = ledger.boots.get(station.id, 0) + 1
            except (aiohttp.ClientError, OSError, StationLost):
                await station.close()
                await asyncio.sleep(random.uniform(0.1, 0.3))
        try:
            if open_tx is not None:
                if stop_message is None:
                    meter += 100
                    stop_message = {"transactionId": open_tx, "meterStop": meter,
                                    "timestamp": _now(), "reason": "Local"}
                # A charger resends the same StopTransaction until it is answered.
                kind, _ = await station.call("StopTransaction", stop_message)
                if kind == 3:
                    ledger.stopped[open_tx] = stop_message["meterStop"]
                    open_tx = stop_message = None
                continue
            if stop.is_set():
                await station.close()
                return
            meter += 1
            kind, body = await station.call("StartTransaction", {
                "connectorId": 1, "idTag": "KILL-TAG", "meterStart": meter,
                "timestamp": _now()})
            if kind == 3:
                tx = body["transactionId"]
                if tx in ledger.started:
                    ledger.reused.append(tx)
                ledger.started[tx] = (station.id, meter)
                open_tx = tx
                await station.call("MeterValues", {
                    "connectorId": 1, "transactionId": tx, "meterValue": [
                        {"timestamp": _now(), "sampledValue": [{"value": str(meter + 50)}]}]})
            await asyncio.sleep(random.uniform(0.05, 0.15))
        except StationLost:
            ledger.lost += 1
            await station.close()


async def test_sigkill_under_load_loses_no_answered_transaction(database_url: str,
                                                                tmp_path: Path) -> None:
    upgrade_schema(database_url)
    hub = LoggedHubProcess(database_url, free_port(), tmp_path / "hub.log", "--dev")
    await hub.start()
    base_url = f"ws://127.0.0.1:{hub.port}/ocpp"
    ledger = Ledger()
    stop = asyncio.Event()
    stations = [RawStation(f"KILL-{n:03d}") for n in range(STATIONS)]
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        runs = [asyncio.create_task(_run_station(s, http, base_url, ledger, stop))
                for s in stations]
        try:
            # Under load, not after a fixed time: a slow machine must not kill an idle hub.
            await asyncio.sleep(RUN_BEFORE_KILL)
            await wait_for(lambda: len(ledger.started) >= STATIONS // 10, timeout=60)
            started_before_kill = len(ledger.started)
            hub.proc.send_signal(signal.SIGKILL)  # no cleanup, no flush
            hub.proc.wait(10)
            await asyncio.sleep(0.5)
            await hub.start()
            await asyncio.sleep(RUN_AFTER_RESTART)
            # Every station back (a charger reconnects by itself) and work going on again;
            # stopping earlier would leave the slowest reconnects unchecked on a loaded machine.
            await wait_for(lambda: len(ledger.started) > started_before_kill
                           and all(ledger.boots.get(s.id, 0) >= 2 for s in stations),
                           timeout=120)
            stop.set()
            await asyncio.wait_for(asyncio.gather(*runs), 60)
        finally:
            stop.set()
            for run in runs:
                run.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.gather(*runs, return_exceptions=True)
    hub.terminate()

    assert started_before_kill > 0 and len(ledger.started) > started_before_kill
    assert ledger.lost > 0, "the kill should have cut calls in flight"
    assert ledger.reused == []
    # Every station came back by itself after the restart, and closed what it had open.
    assert all(ledger.boots.get(s.id, 0) >= 2 for s in stations), ledger.boots
    assert set(ledger.stopped) == set(ledger.started)

    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = {row.id: row for row in (await conn.execute(sa.select(
                Transaction.id, Transaction.station_id, Transaction.meter_start,
                Transaction.meter_stop, Transaction.status))).all()}
    finally:
        await engine.dispose()
    for tx, (station_id, meter_start) in ledger.started.items():
        row = rows.get(tx)
        assert row is not None, f"answered StartTransaction {tx} is not in the database"
        assert (row.station_id, row.meter_start) == (station_id, meter_start), (tx, row)
    for tx, meter_stop in ledger.stopped.items():
        assert (rows[tx].meter_stop, rows[tx].status) == (meter_stop, "completed"), rows[tx]
    assert hub.unhandled_errors() == []

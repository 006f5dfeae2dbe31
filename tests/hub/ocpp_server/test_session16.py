"""A real `ocpp` 1.6 charge point runs a whole session against the hub; every fact must be in
the database afterwards, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from ocpp.v16 import call

from hub.db.models import (
    Connector,
    IdTag,
    LatestReading,
    MeterValue,
    OcppMessage,
    Station,
    StationNotification,
    Transaction,
)
from hub.events import MeterValuesReceived, StatusChanged, TransactionEnded, TransactionStarted
from hub.services import transactions
from tests.harness import RunningHub, connect_station, now, wait_for


async def add_tags(running: RunningHub) -> None:
    async with running.hub.sessions() as session, session.begin():
        session.add_all([
            IdTag(id_tag="GOOD", parent_id_tag="FLEET-1"),
            IdTag(id_tag="BLOCKED", blocked=True),
            IdTag(id_tag="OLD", expiry_date=datetime.now(UTC) - timedelta(days=1)),
        ])


def sampled(energy: int) -> list[dict]:
    return [{"timestamp": now(), "sampledValue": [
        {"value": str(energy), "measurand": "Energy.Active.Import.Register", "unit": "Wh",
         "context": "Sample.Periodic", "location": "Outlet", "format": "Raw"},
        {"value": "7200.5", "measurand": "Power.Active.Import", "unit": "W"},
        {"value": "10.1", "measurand": "Current.Import", "unit": "A", "phase": "L1"},
        {"value": "55", "measurand": "SoC", "unit": "Percent", "location": "EV"},
    ]}]


async def test_full_session_is_persisted(hub: RunningHub) -> None:
    await add_tags(hub)
    events: list[object] = []
    for kind in (StatusChanged, TransactionStarted, TransactionEnded, MeterValuesReceived):
        hub.hub.bus.subscribe(kind, lambda e: _append(events, e))

    async with connect_station(hub, "CP-FLOW") as cp:
        boot = await cp.boot()
        assert boot.status == "Accepted"
        assert boot.interval == hub.hub.config.ocpp.heartbeat_interval

        heartbeat = await cp.call(call.Heartbeat(), suppress=False)
        assert heartbeat.current_time.endswith("Z")

        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError",
                                              status="Preparing", timestamp=now()),
                      suppress=False)

        auth = await cp.call(call.Authorize(id_tag="GOOD"), suppress=False)
        assert auth.id_tag_info == {"status": "Accepted", "parent_id_tag": "FLEET-1"}
        assert (await cp.call(call.Authorize(id_tag="BLOCKED"))).id_tag_info["status"] == \
            "Blocked"
        assert (await cp.call(call.Authorize(id_tag="OLD"))).id_tag_info["status"] == "Expired"
        assert (await cp.call(call.Authorize(id_tag="NOBODY"))).id_tag_info["status"] == \
            "Invalid"

        start = await cp.call(call.StartTransaction(connector_id=1, id_tag="GOOD",
                                                    meter_start=1000, timestamp=now()),
                              suppress=False)
        tx_id = start.transaction_id
        assert start.id_tag_info["status"] == "Accepted"

        for energy in (1100, 1200, 1300, 1400, 1500):
            await cp.call(call.MeterValues(connector_id=1, transaction_id=tx_id,
                                           meter_value=sampled(energy)), suppress=False)

        stop = await cp.call(call.StopTransaction(
            meter_stop=1600, timestamp=now(), transaction_id=tx_id, reason="EVDisconnected",
            id_tag="GOOD", transaction_data=sampled(1600)), suppress=False)
        assert stop.id_tag_info["status"] == "Accepted"

        # A repeated stop (the charger lost our answer) is answered and changes nothing.
        again = await cp.call(call.StopTransaction(meter_stop=9999, timestamp=now(),
                                                   transaction_id=tx_id), suppress=False)
        assert again.id_tag_info is None

    async with hub.hub.sessions() as session:
        station = await session.get(Station, "CP-FLOW")
        assert (station.vendor, station.model, station.serial_number,
                station.firmware_version) == ("ACME", "Wallbox 2", "SN-1", "1.2.3")
        assert station.boot_status == "Accepted"

        tx = await session.get(Transaction, tx_id)
        assert (tx.station_id, tx.connector_id, tx.id_tag, tx.meter_start, tx.meter_stop,
                tx.stop_reason, tx.status) == ("CP-FLOW", 1, "GOOD", 1000, 1600,
                                               "EVDisconnected", "completed")
        assert tx.energy_wh == 600

        values = (await session.execute(sa.select(MeterValue).where(
            MeterValue.transaction_id == tx_id).order_by(MeterValue.id))).scalars().all()
        assert len(values) == 6 * 4
        assert {v.source for v in values} == {"MeterValues", "StopTransaction"}
        energy = [v for v in values if v.measurand == "Energy.Active.Import.Register"]
        assert [e.numeric_value for e in energy] == [1100, 1200, 1300, 1400, 1500, 1600]
        first = energy[0]
        assert (first.unit, first.context, first.location, first.format) == \
            ("Wh", "Sample.Periodic", "Outlet", "Raw")
        current = next(v for v in values if v.measurand == "Current.Import")
        assert current.phase == "L1"

        latest = {r.measurand: r for r in (await session.execute(sa.select(LatestReading).where(
            LatestReading.station_id == "CP-FLOW"))).scalars()}
        assert latest["Energy.Active.Import.Register"].value == "1600"
        assert latest["SoC"].location == "EV"
        assert latest["Current.Import"].phase == "L1"

        connector = await session.get(Connector, ("CP-FLOW", 1))
        assert connector.status == "Preparing"
        assert connector.current_transaction_id is None

    await wait_for(lambda: any(isinstance(e, TransactionEnded) for e in events))
    kinds = [type(e).__name__ for e in events]
    assert kinds.count("TransactionStarted") == 1
    assert kinds.count("TransactionEnded") == 1
    assert kinds.count("MeterValuesReceived") == 5
    assert "StatusChanged" in kinds

    # The station is marked offline once the socket is gone.
    async def offline() -> bool:
        async with hub.hub.sessions() as session:
            return not (await session.get(Station, "CP-FLOW")).connected

    await wait_for(offline)


async def _append(events: list[object], event: object) -> None:
    events.append(event)


async def test_resent_start_transaction_gets_the_same_id(hub: RunningHub) -> None:
    async with connect_station(hub, "CP-DUP") as cp:
        request = call.StartTransaction(connector_id=2, id_tag="ANY", meter_start=5,
                                        timestamp="2026-11-21T10:00:00Z")
        first = await cp.call(request, suppress=False)
        second = await cp.call(request, suppress=False)
        assert first.transaction_id == second.transaction_id
        assert first.id_tag_info["status"] == "Invalid"  # unknown tag, still recorded
        other = await cp.call(call.StartTransaction(connector_id=2, id_tag="ANY", meter_start=6,
                                                    timestamp="2026-11-21T11:00:00Z"))
        assert other.transaction_id > first.transaction_id
    async with hub.hub.sessions() as session:
        count = await session.scalar(sa.select(sa.func.count()).select_from(Transaction))
    assert count == 2


async def test_a_start_repeated_within_one_group_commit_is_stored_once(hub: RunningHub) -> None:
    """A charger that reconnects and repeats its StartTransaction while the first copy still
    waits for its commit: both copies can land in one batch; the second sees the first's row
    and gets its id."""
    async with hub.hub.engine.begin() as conn:
        await conn.execute(sa.insert(Station).values(
            id="CP-TWICE", registration_status="Accepted", created_at=datetime.now(UTC)))
    at = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    first, second = await asyncio.gather(*(
        transactions.start_transaction(hub.hub, "CP-TWICE", 1, "ANY", 5, at) for _ in range(2)))
    assert first.transaction_id == second.transaction_id
    assert sorted([first.duplicate, second.duplicate]) == [False, True]
    # Another meter start or id tag is another transaction, even at the same second.
    third = await transactions.start_transaction(hub.hub, "CP-TWICE", 1, "ANY", 6, at)
    fourth = await transactions.start_transaction(hub.hub, "CP-TWICE", 1, None, 5, at)
    repeat_of_fourth = await transactions.start_transaction(hub.hub, "CP-TWICE", 1, None, 5, at)
    assert len({first.transaction_id, third.transaction_id, fourth.transaction_id}) == 3
    assert (repeat_of_fourth.transaction_id, repeat_of_fourth.duplicate) == \
        (fourth.transaction_id, True)
    async with hub.hub.sessions() as session:
        count = await session.scalar(sa.select(sa.func.count()).select_from(Transaction).where(
            Transaction.station_id == "CP-TWICE"))
    assert count == 3


async def test_notifications_and_message_log(hub: RunningHub) -> None:
    async with connect_station(hub, "CP-NOTE") as cp:
        await cp.call(call.DiagnosticsStatusNotification(status="Uploaded"), suppress=False)
        await cp.call(call.FirmwareStatusNotification(status="Installed"), suppress=False)
        await cp.call(call.SecurityEventNotification(type="FirmwareUpdated", timestamp=now(),
                                                     tech_info="v2"), suppress=False)
        await cp.call(call.LogStatusNotification(status="Uploaded", request_id=4),
                      suppress=False)
        await cp.call(call.SignedFirmwareStatusNotification(status="Downloading", request_id=5),
                      suppress=False)
        signed = await cp.call(call.SignCertificate(csr="-----BEGIN CERTIFICATE REQUEST-----"),
                               suppress=False)
        assert signed.status == "Rejected"
        await cp.call(call.Heartbeat(), suppress=False)

    async def log_rows() -> list[OcppMessage]:
        async with hub.hub.sessions() as session:
            return (await session.execute(sa.select(OcppMessage).where(
                OcppMessage.station_id == "CP-NOTE"))).scalars().all()

    rows = await wait_for(lambda: _at_least(log_rows, 12))
    actions = {(r.direction, r.action) for r in rows}
    assert ("in", "SecurityEventNotification") in actions
    assert ("out", "SecurityEventNotification") in actions
    assert all(r.action != "Heartbeat" for r in rows)  # heartbeats are not logged by default

    async with hub.hub.sessions() as session:
        notes = (await session.execute(sa.select(StationNotification).where(
            StationNotification.station_id == "CP-NOTE"))).scalars().all()
    by_kind = {n.kind: n for n in notes}
    assert by_kind["DiagnosticsStatus"].status == "Uploaded"
    assert by_kind["FirmwareStatus"].status == "Installed"
    assert by_kind["SecurityEvent"].status == "FirmwareUpdated"
    assert by_kind["SecurityEvent"].detail == "v2"
    assert by_kind["LogStatus"].request_id == 4
    assert by_kind["SignedFirmwareStatus"].request_id == 5


async def _at_least(fetch, count: int):
    rows = await fetch()
    return rows if len(rows) >= count else None

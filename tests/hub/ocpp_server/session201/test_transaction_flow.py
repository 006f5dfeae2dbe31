"""A real `ocpp` 2.0.1 station boots, authorises and runs a transaction through TransactionEvent
Started/Updated/Ended; the hub must show the same facts it shows for a 1.6 session (see
tests/hub/ocpp_server/test_session16.py), on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from ocpp.v201 import call

from hub.db.models import (
    Connector,
    IdTag,
    LatestReading,
    MeterValue,
    Station,
    StationNotification,
    Transaction,
)
from hub.db.models201 import EvseConnector, Transaction201, TransactionEventRecord
from hub.events import (
    MeterValuesReceived,
    StatusChanged,
    TransactionEnded,
    TransactionStarted,
    TransactionUpdated,
)
from hub.services.transaction_events import TransactionEventIn, record_transaction_event
from tests.harness import RunningHub, connect_station201, wait_for

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def ts(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


async def add_tags(running: RunningHub) -> None:
    async with running.hub.sessions() as session, session.begin():
        session.add_all([
            IdTag(id_tag="GOOD", parent_id_tag="FLEET-1"),
            IdTag(id_tag="BLOCKED", blocked=True),
            IdTag(id_tag="OLD", expiry_date=datetime.now(UTC) - timedelta(days=1)),
        ])


def energy(value: float, minutes: float, context: str = "Sample.Periodic", unit: str = "Wh",
           multiplier: int = 0, extra: bool = False) -> list[dict[str, Any]]:
    sampled: list[dict[str, Any]] = [{
        "value": value, "context": context, "measurand": "Energy.Active.Import.Register",
        "location": "Outlet", "unit_of_measure": {"unit": unit, "multiplier": multiplier}}]
    if extra:
        sampled += [
            {"value": 7200.5, "measurand": "Power.Active.Import", "unit_of_measure": {"unit": "W"}},
            {"value": 10.1, "measurand": "Current.Import", "phase": "L1",
             "unit_of_measure": {"unit": "A"}},
            {"value": 55, "measurand": "SoC", "location": "EV",
             "unit_of_measure": {"unit": "Percent"}},
        ]
    return [{"timestamp": ts(minutes), "sampled_value": sampled}]


def event(event_type: str, seq_no: int, minutes: float, tx: str = "TX-201-A",
          **fields: Any) -> call.TransactionEvent:
    info = {"transaction_id": tx}
    for key in ("charging_state", "stopped_reason", "remote_start_id", "time_spent_charging"):
        if key in fields:
            info[key] = fields.pop(key)
    fields.setdefault("trigger_reason", "MeterValuePeriodic")
    return call.TransactionEvent(event_type=event_type, timestamp=ts(minutes), seq_no=seq_no,
                                 transaction_info=info, **fields)


GOOD = {"id_token": "GOOD", "type": "ISO14443"}


async def test_boot_authorize_and_transaction_show_the_same_facts_as_1_6(hub: RunningHub) -> None:
    await add_tags(hub)
    events: list[object] = []
    for kind in (StatusChanged, TransactionStarted, TransactionUpdated, TransactionEnded,
                 MeterValuesReceived):
        hub.hub.bus.subscribe(kind, lambda e: _append(events, e))

    async with connect_station201(hub, "CP-201") as cp:
        boot = await cp.boot(reason="PowerUp")
        assert boot.status == "Accepted"
        assert boot.interval == hub.hub.config.ocpp.heartbeat_interval
        assert (await cp.call(call.Heartbeat(), suppress=False)).current_time.endswith("Z")

        await cp.call(call.StatusNotification(timestamp=ts(0), connector_status="Available",
                                              evse_id=1, connector_id=1), suppress=False)

        auth = await cp.call(call.Authorize(id_token=GOOD), suppress=False)
        assert auth.id_token_info == {"status": "Accepted",
                                      "group_id_token": {"id_token": "FLEET-1",
                                                         "type": "Central"}}
        for token, status in (("BLOCKED", "Blocked"), ("OLD", "Expired"), ("NOBODY", "Invalid")):
            answer = await cp.call(call.Authorize(id_token={"id_token": token, "type": "ISO14443"}))
            assert answer.id_token_info["status"] == status
        free = await cp.call(call.Authorize(id_token={"id_token": "", "type": "NoAuthorization"}))
        assert free.id_token_info["status"] == "Accepted"

        await cp.call(call.StatusNotification(timestamp=ts(1), connector_status="Occupied",
                                              evse_id=1, connector_id=1), suppress=False)
        started = await cp.call(event(
            "Started", 0, 1, trigger_reason="Authorized", charging_state="EVConnected",
            evse={"id": 1, "connector_id": 1}, id_token=GOOD,
            meter_value=energy(1000, 1, context="Transaction.Begin")), suppress=False)
        assert started.id_token_info["status"] == "Accepted"
        assert await _connector(hub, 1, "status") == "Preparing"

        tx_id = await _tx_id(hub, "CP-201", "TX-201-A")
        assert await _connector(hub, 1, "current_transaction_id") == tx_id

        await cp.call(event("Updated", 1, 2, trigger_reason="ChargingStateChanged",
                            charging_state="Charging", meter_value=energy(1100, 2, extra=True)),
                      suppress=False)
        assert await _connector(hub, 1, "status") == "Charging"
        await cp.call(event("Updated", 2, 3, meter_value=energy(1.2, 3, unit="kWh", extra=True)),
                      suppress=False)
        await cp.call(event("Updated", 3, 4, meter_value=energy(13, 4, multiplier=2, extra=True)),
                      suppress=False)
        await cp.call(event("Updated", 4, 5, charging_state="SuspendedEV",
                            trigger_reason="ChargingStateChanged",
                            meter_value=energy(1500, 5, extra=True)), suppress=False)
        assert await _connector(hub, 1, "status") == "SuspendedEV"

        ended = await cp.call(event(
            "Ended", 5, 6, trigger_reason="StopAuthorized", stopped_reason="Local",
            charging_state="EVConnected", time_spent_charging=240, id_token=GOOD,
            meter_value=energy(1600, 6, context="Transaction.End", extra=True)), suppress=False)
        assert ended.id_token_info["status"] == "Accepted"
        # Still plugged in after the transaction: Finishing, as a 1.6 charger would say.
        assert await _connector(hub, 1, "status") == "Finishing"
        await cp.call(call.StatusNotification(timestamp=ts(7), connector_status="Available",
                                              evse_id=1, connector_id=1), suppress=False)

        await cp.call(call.MeterValues(evse_id=0, meter_value=energy(99000, 8)), suppress=False)

    async with hub.hub.sessions() as session:
        station = await session.get(Station, "CP-201")
        assert (station.ocpp_version, station.vendor, station.model, station.serial_number,
                station.firmware_version, station.iccid, station.imsi, station.boot_status) == (
            "2.0.1", "ACME", "Wallbox 201", "SN-201", "2.0.1-a", "8949000000000000001",
            "262010000000001", "Accepted")
        boot_note = (await session.execute(sa.select(StationNotification).where(
            StationNotification.station_id == "CP-201",
            StationNotification.kind == "BootNotification"))).scalar_one()
        assert boot_note.status == "PowerUp"

        tx = await session.get(Transaction, tx_id)
        assert (tx.station_id, tx.connector_id, tx.ocpp_transaction_id, tx.id_tag,
                tx.id_tag_status, tx.meter_start, tx.meter_stop, tx.stop_reason, tx.stop_id_tag,
                tx.status) == ("CP-201", 1, "TX-201-A", "GOOD", "Accepted", 1000, 1600, "Local",
                               "GOOD", "completed")
        assert tx.energy_wh == 600
        assert (tx.start_timestamp, tx.stop_timestamp) == (T0 + timedelta(minutes=1),
                                                           T0 + timedelta(minutes=6))

        detail = await session.get(Transaction201, tx_id)
        assert (detail.evse_id, detail.connector_id, detail.charging_state, detail.events,
                detail.last_seq_no, detail.offline, detail.time_spent_charging,
                detail.id_token_type) == (1, 1, "EVConnected", 6, 5, False, 240, "ISO14443")

        values = (await session.execute(sa.select(MeterValue).where(
            MeterValue.transaction_id == tx_id).order_by(MeterValue.id))).scalars().all()
        assert len(values) == 1 + 5 * 4
        assert {v.source for v in values} == {"TransactionEvent"}
        register = [v for v in values if v.measurand == "Energy.Active.Import.Register"]
        assert [(v.value, v.unit) for v in register] == [
            ("1000", "Wh"), ("1100", "Wh"), ("1.2", "kWh"), ("1300", "Wh"), ("1500", "Wh"),
            ("1600", "Wh")]
        assert (register[0].context, register[0].location) == ("Transaction.Begin", "Outlet")
        current = next(v for v in values if v.measurand == "Current.Import")
        assert (current.phase, current.numeric_value) == ("L1", 10.1)

        latest = {(r.connector_id, r.measurand): r for r in (await session.execute(
            sa.select(LatestReading).where(LatestReading.station_id == "CP-201"))).scalars()}
        assert latest[(1, "Energy.Active.Import.Register")].value == "1600"
        assert latest[(1, "SoC")].location == "EV"
        assert latest[(1, "Current.Import")].phase == "L1"
        assert latest[(0, "Energy.Active.Import.Register")].value == "99000"

        connector = await session.get(Connector, ("CP-201", 1))
        assert (connector.status, connector.current_transaction_id) == ("Available", None)
        pair = await session.get(EvseConnector, ("CP-201", 1, 1))
        assert pair.status == "Available"

    await wait_for(lambda: any(isinstance(e, TransactionEnded) for e in events))
    kinds = [type(e).__name__ for e in events]
    assert kinds.count("TransactionStarted") == 1
    assert kinds.count("TransactionEnded") == 1
    assert kinds.count("TransactionUpdated") == 4
    assert kinds.count("MeterValuesReceived") == 7
    started_event = next(e for e in events if isinstance(e, TransactionStarted))
    ended_event = next(e for e in events if isinstance(e, TransactionEnded))
    assert (started_event.transaction_id, started_event.connector_id, started_event.id_tag,
            started_event.meter_start) == (tx_id, 1, "GOOD", 1000)
    assert (ended_event.transaction_id, ended_event.meter_start, ended_event.meter_stop,
            ended_event.reason) == (tx_id, 1000, 1600, "Local")
    statuses = [e.status for e in events if isinstance(e, StatusChanged)]
    assert statuses == ["Available", "Preparing", "Charging", "SuspendedEV", "Finishing",
                        "Available"]

    async def offline() -> bool:
        async with hub.hub.sessions() as session:
            return not (await session.get(Station, "CP-201")).connected

    await wait_for(offline)


async def test_duplicate_and_out_of_order_events_are_idempotent(hub: RunningHub) -> None:
    await add_tags(hub)
    events: list[object] = []
    for kind in (TransactionStarted, TransactionEnded):
        hub.hub.bus.subscribe(kind, lambda e: _append(events, e))

    async with connect_station201(hub, "CP-ODD") as cp:
        await cp.boot()
        # An Updated overtakes its Started: the transaction exists from the first event on.
        await cp.call(event("Updated", 1, 2, tx="TX-B", charging_state="Charging",
                            evse={"id": 2, "connector_id": 1},
                            meter_value=energy(2100, 2)), suppress=False)
        tx_id = await _tx_id(hub, "CP-ODD", "TX-B")
        assert await _tx_field(hub, tx_id, "meter_start") == 2100
        assert await _connector(hub, 2, "status", "CP-ODD") == "Charging"

        started = event("Started", 0, 1, tx="TX-B", trigger_reason="Authorized", id_token=GOOD,
                        evse={"id": 2, "connector_id": 1},
                        meter_value=energy(2000, 1, context="Transaction.Begin"))
        first = await cp.call(started, suppress=False)
        ended = event("Ended", 3, 4, tx="TX-B", stopped_reason="EVDisconnected",
                      trigger_reason="EVCommunicationLost",
                      meter_value=energy(2500, 4, context="Transaction.End"))
        await cp.call(ended, suppress=False)
        # A late Updated after the Ended, then both repeated (the station lost our answers).
        await cp.call(event("Updated", 2, 3, tx="TX-B", meter_value=energy(2300, 3)),
                      suppress=False)
        again = await cp.call(started, suppress=False)
        assert again.id_token_info == first.id_token_info
        await cp.call(ended, suppress=False)

        # A transaction of which only the Ended arrives (queued offline), then its Started.
        await cp.call(event("Ended", 1, 12, tx="TX-C", offline=True, stopped_reason="Local",
                            evse={"id": 3}, id_token=GOOD,
                            meter_value=energy(500, 12, context="Transaction.End")),
                      suppress=False)
        await cp.call(event("Started", 0, 10, tx="TX-C", offline=True,
                            trigger_reason="Authorized", evse={"id": 3}, id_token=GOOD,
                            meter_value=energy(100, 10, context="Transaction.Begin")),
                      suppress=False)

    async with hub.hub.sessions() as session:
        tx = await session.get(Transaction, tx_id)
        assert (tx.connector_id, tx.id_tag, tx.meter_start, tx.meter_stop, tx.status,
                tx.stop_reason, tx.start_timestamp) == (
            2, "GOOD", 2000, 2500, "completed", "EVDisconnected", T0 + timedelta(minutes=1))
        records = (await session.execute(sa.select(TransactionEventRecord.seq_no).where(
            TransactionEventRecord.transaction_id == tx_id).order_by(
            TransactionEventRecord.seq_no))).scalars().all()
        assert records == [0, 1, 2, 3]
        register = (await session.execute(sa.select(MeterValue.value).where(
            MeterValue.transaction_id == tx_id).order_by(MeterValue.timestamp))).scalars().all()
        assert register == ["2000", "2100", "2300", "2500"]
        # The late reading did not replace the newer live one.
        latest = await session.get(LatestReading, ("CP-ODD", 2, "Energy.Active.Import.Register",
                                                   "", "Outlet"))
        assert latest.value == "2500"
        assert (await session.get(Connector, ("CP-ODD", 2))).current_transaction_id is None

        offline_tx = (await session.execute(sa.select(Transaction).where(
            Transaction.ocpp_transaction_id == "TX-C"))).scalar_one()
        assert (offline_tx.connector_id, offline_tx.meter_start, offline_tx.meter_stop,
                offline_tx.status, offline_tx.start_timestamp) == (
            3, 100, 500, "completed", T0 + timedelta(minutes=10))
        detail = await session.get(Transaction201, offline_tx.id)
        assert detail.offline and detail.started_seen and detail.ended_seen

    await wait_for(lambda: len(events) >= 4)
    kinds = sorted((type(e).__name__, e.transaction_id) for e in events)
    assert kinds == sorted([("TransactionStarted", tx_id), ("TransactionEnded", tx_id),
                            ("TransactionStarted", offline_tx.id),
                            ("TransactionEnded", offline_tx.id)])


async def _append(events: list[object], item: object) -> None:
    events.append(item)


async def _tx_id(running: RunningHub, station_id: str, ocpp_id: str) -> int:
    async with running.hub.sessions() as session:
        return (await session.execute(sa.select(Transaction.id).where(
            Transaction.station_id == station_id,
            Transaction.ocpp_transaction_id == ocpp_id))).scalar_one()


async def _tx_field(running: RunningHub, tx_id: int, name: str) -> Any:
    async with running.hub.sessions() as session:
        return getattr(await session.get(Transaction, tx_id), name)


async def _connector(running: RunningHub, connector_id: int, name: str,
                     station_id: str = "CP-201") -> Any:
    async with running.hub.sessions() as session:
        row = await session.get(Connector, (station_id, connector_id))
        return getattr(row, name) if row else None


async def test_the_same_event_twice_in_one_group_commit_is_applied_once(
        hub: RunningHub, caplog: pytest.LogCaptureFixture) -> None:
    """A station that reconnects and repeats an event while the first copy still waits for its
    commit: both copies can land in one batch. The batch's rows collide on (station,
    transactionId, seqNo); retried unit by unit, the second copy is answered as a repeat."""
    async with hub.hub.engine.begin() as conn:
        await conn.execute(sa.insert(Station).values(
            id="CP-DUP", registration_status="Accepted", created_at=datetime.now(UTC)))
    at = datetime.now(UTC)
    started = TransactionEventIn(station_id="CP-DUP", event_type="Started", timestamp=at,
                                 trigger_reason="CablePluggedIn", seq_no=0,
                                 ocpp_transaction_id="TX-DUP", evse_id=1, connector_id=1)
    await record_transaction_event(hub.hub, started)
    update = TransactionEventIn(
        station_id="CP-DUP", event_type="Updated", timestamp=at + timedelta(seconds=5),
        trigger_reason="MeterValuePeriodic", seq_no=1, ocpp_transaction_id="TX-DUP",
        meter_value=[{"timestamp": at + timedelta(seconds=5), "sampled_value": [
            {"value": "1500", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}])
    first, second = await asyncio.gather(record_transaction_event(hub.hub, update),
                                         record_transaction_event(hub.hub, update))
    assert "retrying one by one" in caplog.text  # both copies were in one batch
    assert first.transaction_id == second.transaction_id
    assert sorted([first.duplicate, second.duplicate]) == [False, True]
    async with hub.hub.engine.connect() as conn:
        events = (await conn.execute(sa.select(sa.func.count()).select_from(
            TransactionEventRecord).where(TransactionEventRecord.station_id == "CP-DUP"))
        ).scalar_one()
        samples = (await conn.execute(sa.select(sa.func.count()).select_from(MeterValue).where(
            MeterValue.station_id == "CP-DUP"))).scalar_one()
        detail = (await conn.execute(sa.select(Transaction201.events).where(
            Transaction201.ocpp_transaction_id == "TX-DUP"))).scalar_one()
    assert (events, samples, detail) == (2, 1, 2)

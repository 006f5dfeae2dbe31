"""OCPP 2.0.1 TransactionEvent: the charger's transaction stream onto the core's transactions.

A 2.0.1 charger names its transactions itself (``transactionId``, a string) and reports each as
a stream of events (Started, Updated..., Ended) numbered by ``seqNo``. The hub keeps the same
facts as for 1.6 (a ``transactions`` row with the hub's integer id, ``meter_values``, live
readings, connector status, TransactionStarted / Updated / Ended events and their outbox hooks)
so that no surface needs to know the version. The rules:

- (station, transactionId, seqNo) identifies an event: a repeated event changes nothing and
  gets the same answer.
- Whatever event of a transaction arrives first creates it (TransactionStarted is published
  then); a late Started only corrects the start time and meter start. The first id token of a
  transaction that started without one (EV plugged in first) publishes TransactionAuthorized.
  An Ended closes it (TransactionEnded); events after it still store their meter values.
- meter_start is the energy register reading with context Transaction.Begin, else the earliest
  one seen; meter_stop the one with Transaction.End, else the latest one seen. So they only ever
  move towards the truth, whatever the order the events arrive in.
- Each event is committed before it is answered, like 1.6 Start/StopTransaction.

2.0.1 sampled values are numbers with a unitOfMeasure {unit, multiplier}; they are stored like
1.6 values, with the multiplier applied. Signed meter values are not stored yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.context import Hub
from hub.db.base import utcnow
from hub.db.group_commit import Write, write_later
from hub.db.models import Reservation, Transaction
from hub.db.models201 import Transaction201, TransactionEventRecord
from hub.events import (
    Event,
    MeterValuesReceived,
    TransactionAuthorized,
    TransactionEnded,
    TransactionStarted,
    TransactionUpdated,
)
from hub.services.evse_status import refresh_status
from hub.services.transactions import (
    DEFAULT_MEASURAND,
    energy_register_wh,
    flatten_meter_values,
    sample_writes,
    set_current_transaction,
)

BEGIN = "Transaction.Begin"
END = "Transaction.End"


@dataclass
class TransactionEventIn:
    """One TransactionEvent, parsed (timestamps as aware datetimes)."""

    station_id: str
    event_type: str  # Started, Updated, Ended
    timestamp: datetime
    trigger_reason: str
    seq_no: int
    ocpp_transaction_id: str
    charging_state: str | None = None
    time_spent_charging: int | None = None
    stopped_reason: str | None = None
    remote_start_id: int | None = None
    offline: bool = False
    reservation_id: int | None = None
    evse_id: int | None = None
    connector_id: int | None = None
    id_token: str | None = None
    id_token_type: str | None = None
    id_token_status: str | None = None
    # Core (1.6-shaped) meter values: see core_meter_values().
    meter_value: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class TransactionEventResult:
    transaction_id: int
    duplicate: bool = False
    created: bool = False
    ended: bool = False


def core_meter_values(meter_value: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """2.0.1 MeterValueType[] (snake_case keys, timestamps parsed) -> the 1.6 shape the core
    stores: values as strings with the unit multiplier applied."""
    out = []
    for entry in meter_value:
        sampled = []
        for sv in entry.get("sampled_value", ()):
            unit = sv.get("unit_of_measure") or {}
            sampled.append({
                "value": scaled_value(sv["value"], unit.get("multiplier") or 0),
                "context": sv.get("context"),
                "measurand": sv.get("measurand"),
                "phase": sv.get("phase"),
                "location": sv.get("location"),
                # 2.0.1 allows 20 characters; the core column (and every standard unit) fits 16.
                "unit": (unit.get("unit") or None) and unit["unit"][:16],
            })
        out.append({"timestamp": entry["timestamp"], "sampled_value": sampled})
    return out


def scaled_value(value: Any, multiplier: int) -> str:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    if multiplier:
        number = number.scaleb(multiplier)
    text = format(number, "f")
    # Absurd magnitudes in exponent form rather than hundreds of digits (the column holds 64).
    return text if len(text) <= 64 else str(number)[:64]


@dataclass(frozen=True)
class _Reading:
    timestamp: datetime
    wh: int
    context: str | None


def _register_readings(meter_value: list[dict[str, Any]]) -> list[_Reading]:
    """Whole-meter energy register readings (Wh) of core-shaped meter values."""
    readings = []
    for entry in meter_value:
        for sv in entry["sampled_value"]:
            if (sv.get("measurand") or DEFAULT_MEASURAND) != DEFAULT_MEASURAND or sv.get("phase"):
                continue
            if sv.get("location") not in (None, "Outlet"):
                continue
            try:
                wh = float(sv["value"]) * (1000 if sv.get("unit") == "kWh" else 1)
            except ValueError:
                continue
            readings.append(_Reading(entry["timestamp"], round(wh), sv.get("context")))
    return readings


async def record_transaction_event(hub: Hub, ev: TransactionEventIn) -> TransactionEventResult:
    """Apply one TransactionEvent; committed when this returns."""

    async def work(conn: AsyncConnection) -> tuple[TransactionEventResult, list[Event]]:
        return await _apply(hub, conn, ev)

    result, events = await hub.committer.run(work)
    for event in events:
        hub.bus.publish(event)
    return result


async def _apply(hub: Hub, conn: AsyncConnection,
                 ev: TransactionEventIn) -> tuple[TransactionEventResult, list[Event]]:
    # One round trip: the 2.0.1 details, the core transaction and whether this event was seen.
    state = (await conn.execute(_STATE, {
        "b_station": ev.station_id, "b_tx": ev.ocpp_transaction_id, "b_seq": ev.seq_no,
    })).first()
    if state is not None and state.seen:
        return TransactionEventResult(state.transaction_id, duplicate=True), []

    events: list[Event] = []
    now = utcnow()
    readings = _register_readings(ev.meter_value)
    created = state is None
    detail: Any
    tx: Any
    if state is None:
        tx_id, detail = await _create(hub, conn, ev, readings, events, now)
        tx = (await conn.execute(_TRANSACTION, {"b_id": tx_id})).one()
    else:
        tx_id = state.transaction_id
        detail = SimpleNamespace(**{c.name: getattr(state, c.name) for c in _T201.c})
        tx = SimpleNamespace(**{c.name: getattr(state, f"tx_{c.name}") for c in _TX.c})

    # -- the details only 2.0.1 has --------------------------------------------------------
    newest = ev.seq_no >= detail.last_seq_no or detail.events == 0
    changes: dict[str, Any] = {
        "events": detail.events + (0 if created else 1),
        "last_seq_no": max(detail.last_seq_no, ev.seq_no),
        "offline": detail.offline or ev.offline,
        "updated_at": now,
    }
    if ev.event_type == "Started":
        changes["started_seen"] = True
    if ev.event_type == "Ended":
        changes["ended_seen"] = True
        changes["stopped_reason"] = ev.stopped_reason
    if newest and ev.charging_state is not None:
        changes["charging_state"] = ev.charging_state
    for name in ("evse_id", "connector_id", "remote_start_id", "id_token_type"):
        if getattr(detail, name) is None and getattr(ev, name) is not None:
            changes[name] = getattr(ev, name)
    if ev.time_spent_charging is not None:
        changes["time_spent_charging"] = max(ev.time_spent_charging,
                                             detail.time_spent_charging or 0)
    changes.update(_meter_changes(detail, readings))

    # -- the core transaction ----------------------------------------------------------------
    core: dict[str, Any] = {}
    connector_id = tx.connector_id
    if connector_id == 0 and ev.evse_id:
        # Created by an event without EVSE (out of order): the first EVSE seen places it.
        connector_id = core["connector_id"] = ev.evse_id
        if tx.status == "active":
            await set_current_transaction(conn, ev.station_id, connector_id, tx_id)
    if ev.event_type == "Started" and not created:
        core["start_timestamp"] = ev.timestamp
    if "meter_start_at" in changes:
        core["meter_start"] = changes["meter_start"]
        del changes["meter_start"]
    if ev.id_token is not None:
        # Like 1.6: the token that starts is id_tag, the one presented to stop is stop_id_tag.
        stopping = ev.event_type == "Ended" or ev.trigger_reason == "StopAuthorized"
        if stopping:
            core["stop_id_tag"] = ev.id_token
        elif tx.id_tag is None:
            core["id_tag"], core["id_tag_status"] = ev.id_token, ev.id_token_status
    if ev.reservation_id is not None and tx.reservation_id is None:
        core["reservation_id"] = ev.reservation_id
        await _reservation_used(conn, ev, tx_id, now)
    last_energy = changes.get("last_energy_wh", detail.last_energy_wh)
    ended_now = ev.event_type == "Ended" and tx.status == "active"
    if ended_now:
        core.update(status="completed", stop_timestamp=ev.timestamp,
                    stop_reason=ev.stopped_reason, meter_stop=last_energy)
    elif tx.status == "completed" and "last_energy_wh" in changes:
        core["meter_stop"] = last_energy  # a late event corrected the final reading
    if core:
        core["updated_at"] = now
        await conn.execute(_UPDATE_TRANSACTION, {"b_id": tx_id, **core})
    if core.get("id_tag") is not None and not created:
        authorized = TransactionAuthorized(
            station_id=ev.station_id, transaction_id=tx_id, connector_id=connector_id,
            id_tag=core["id_tag"], meter_start=core.get("meter_start", tx.meter_start),
            timestamp=ev.timestamp)
        await hub.bus.run_in_transaction(conn, authorized)
        events.append(authorized)
    await conn.execute(_UPDATE_DETAIL, {"b_id": tx_id, **changes})

    # Rows nothing in this unit reads back go with the whole batch's rows (a hook that reads
    # them calls write_pending). A duplicate event in the same batch fails the batch on the
    # unique (station, transactionId, seqNo) key; the group commit then retries unit by
    # unit, and the second one is seen as a repeat.
    samples = tuple(flatten_meter_values(ev.meter_value))
    await write_later(conn, [Write(TransactionEventRecord.__table__, [{
        "station_id": ev.station_id, "ocpp_transaction_id": ev.ocpp_transaction_id,
        "seq_no": ev.seq_no, "event_type": ev.event_type, "trigger_reason": ev.trigger_reason,
        "timestamp": ev.timestamp, "offline": ev.offline, "charging_state": ev.charging_state,
        "evse_id": ev.evse_id, "connector_id": ev.connector_id, "id_token": ev.id_token,
        "id_token_type": ev.id_token_type, "stopped_reason": ev.stopped_reason,
        "meter_values": len(ev.meter_value), "transaction_id": tx_id, "received_at": now,
    }]), *sample_writes(ev.station_id, connector_id, tx_id, ev.meter_value,
                        "TransactionEvent", samples)])
    if samples:
        events.append(MeterValuesReceived(station_id=ev.station_id, connector_id=connector_id,
                                          transaction_id=tx_id, samples=samples))
        # Like 1.6: Started carries meter_start and Ended the final reading in their own events.
        if tx.status == "active" and not ended_now and not created:
            update = TransactionUpdated(station_id=ev.station_id, transaction_id=tx_id,
                                        connector_id=connector_id,
                                        energy_wh=energy_register_wh(samples))
            if hub.bus.has_in_transaction_hooks(TransactionUpdated):
                # In the event's own transaction, like 1.6 MeterValues and like Started and
                # Ended here, so that a feature can write an outbox row (e.g. an OICP
                # progress notification) atomically with the meter values.
                await hub.bus.run_in_transaction(conn, update)
            events.append(update)

    if ended_now:
        await set_current_transaction(conn, ev.station_id, connector_id, None, only_if=tx_id)
        ended = TransactionEnded(
            station_id=ev.station_id, transaction_id=tx_id, connector_id=connector_id,
            id_tag=core.get("id_tag", tx.id_tag),
            meter_start=core.get("meter_start", tx.meter_start), meter_stop=last_energy,
            start_timestamp=core.get("start_timestamp", tx.start_timestamp),
            stop_timestamp=ev.timestamp, reason=ev.stopped_reason)
        await hub.bus.run_in_transaction(conn, ended)
        events.append(ended)

    # The EVSE's derived status depends on the transaction only through its existence, its
    # EVSE and its chargingState (evse_status.core_status): other events cannot change it.
    moved = connector_id != tx.connector_id
    charging_state_changed = changes.get("charging_state", detail.charging_state) != (
        detail.charging_state)
    if connector_id and (created or ended_now or moved or charging_state_changed):
        status = await refresh_status(hub, conn, ev.station_id, connector_id, ev.timestamp,
                                      ended_now=ended_now)
        if status is not None:
            events.append(status)
    return TransactionEventResult(tx_id, created=created, ended=ended_now), events


async def _create(hub: Hub, conn: AsyncConnection, ev: TransactionEventIn,
                  readings: list[_Reading], events: list[Event],
                  now: datetime) -> tuple[int, Transaction201]:
    """The first event of a transaction creates it, whatever its type."""
    connector_id = ev.evse_id or 0
    start = _pick_start(readings)
    tx_id = (await conn.execute(sa.insert(Transaction).values(
        station_id=ev.station_id, connector_id=connector_id, id_tag=ev.id_token,
        id_tag_status=ev.id_token_status, meter_start=start.wh if start else None,
        start_timestamp=ev.timestamp, reservation_id=ev.reservation_id,
        ocpp_transaction_id=ev.ocpp_transaction_id, status="active", created_at=now,
        updated_at=now,
    ).returning(Transaction.id))).scalar_one()
    detail = Transaction201(
        transaction_id=tx_id, station_id=ev.station_id,
        ocpp_transaction_id=ev.ocpp_transaction_id, evse_id=ev.evse_id,
        connector_id=ev.connector_id, charging_state=ev.charging_state,
        id_token_type=ev.id_token_type, remote_start_id=ev.remote_start_id, offline=ev.offline,
        started_seen=False, ended_seen=False, last_seq_no=ev.seq_no, events=1,
        meter_start_at=start.timestamp if start else None,
        meter_start_begin=bool(start and start.context == BEGIN),
        last_energy_wh=None, last_energy_at=None, last_energy_end=False,
        time_spent_charging=None, stopped_reason=None, updated_at=now,
    )
    await conn.execute(sa.insert(Transaction201).values(
        {c.name: getattr(detail, c.name) for c in Transaction201.__table__.columns}))
    if connector_id:
        await set_current_transaction(conn, ev.station_id, connector_id, tx_id)
    if ev.reservation_id is not None:
        await _reservation_used(conn, ev, tx_id, now)
    started = TransactionStarted(
        station_id=ev.station_id, transaction_id=tx_id, connector_id=connector_id,
        id_tag=ev.id_token, meter_start=start.wh if start else None, timestamp=ev.timestamp,
        reservation_id=ev.reservation_id)
    await hub.bus.run_in_transaction(conn, started)
    events.append(started)
    return tx_id, detail


async def _reservation_used(conn: AsyncConnection, ev: TransactionEventIn, tx_id: int,
                            now: datetime) -> None:
    await conn.execute(sa.update(Reservation).where(
        Reservation.id == ev.reservation_id, Reservation.station_id == ev.station_id
    ).values(status="Used", transaction_id=tx_id, updated_at=now))


def _pick_start(readings: list[_Reading]) -> _Reading | None:
    begins = [r for r in readings if r.context == BEGIN]
    pool = begins or readings
    return min(pool, key=lambda r: r.timestamp) if pool else None


def _meter_changes(detail: Transaction201, readings: list[_Reading]) -> dict[str, Any]:
    """Move meter start / the newest register reading towards the truth (see module doc)."""
    changes: dict[str, Any] = {}
    if not readings:
        return changes
    if not detail.meter_start_begin:
        start = _pick_start(readings)
        assert start is not None
        if start.context == BEGIN or detail.meter_start_at is None or (
            start.timestamp < detail.meter_start_at
        ):
            changes.update(meter_start=start.wh, meter_start_at=start.timestamp,
                           meter_start_begin=start.context == BEGIN)
    if not detail.last_energy_end:
        ends = [r for r in readings if r.context == END]
        last = max(ends or readings, key=lambda r: r.timestamp)
        if last.context == END or detail.last_energy_at is None or (
            last.timestamp >= detail.last_energy_at
        ):
            changes.update(last_energy_wh=last.wh, last_energy_at=last.timestamp,
                           last_energy_end=last.context == END)
    return changes


# The hot path's statements, built once (see transactions.py): an Updated event runs these and
# nothing else unless its status or the transaction's state changes.
_T201 = Transaction201.__table__
_TX = Transaction.__table__
_STATE = (
    sa.select(_T201, *(c.label(f"tx_{c.name}") for c in _TX.c),
              sa.exists().where(
                  TransactionEventRecord.station_id == _T201.c.station_id,
                  TransactionEventRecord.ocpp_transaction_id == _T201.c.ocpp_transaction_id,
                  TransactionEventRecord.seq_no == sa.bindparam("b_seq")).label("seen"))
    .join(_TX, _TX.c.id == _T201.c.transaction_id)
    .where(_T201.c.station_id == sa.bindparam("b_station"),
           _T201.c.ocpp_transaction_id == sa.bindparam("b_tx")))
_TRANSACTION = sa.select(Transaction.__table__).where(Transaction.id == sa.bindparam("b_id"))
# Executed with the columns to set as parameters (SET takes them from the parameter names).
_UPDATE_TRANSACTION = sa.update(Transaction).where(Transaction.id == sa.bindparam("b_id"))
_UPDATE_DETAIL = sa.update(Transaction201).where(
    Transaction201.transaction_id == sa.bindparam("b_id"))

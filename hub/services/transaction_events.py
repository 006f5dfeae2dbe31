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
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.context import Hub
from hub.db.base import utcnow
from hub.db.group_commit import Write, emit, write_later
from hub.db.models import Reservation, Transaction
from hub.db.models201 import Transaction201, TransactionEventRecord
from hub.events import (
    MeterValuesReceived,
    SignedMeterValuesReceived,
    StatusChanged,
    TransactionAuthorized,
    TransactionEnded,
    TransactionStarted,
    TransactionUpdated,
)
from hub.services.evse_status import refresh_status
from hub.services.transaction_state import (
    CORE_COLUMNS,
    TransactionState,
    TransactionStates,
    load_state,
)
from hub.services.transactions import (
    DEFAULT_MEASURAND,
    energy_register_wh,
    flatten_meter_values,
    sample_writes,
    set_current_transaction,
    signed_values,
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
    connector_id: int = 0  # its EVSE (0: not known yet)
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
            signed = sv.get("signed_meter_value")
            if signed:  # Eichrecht: kept opaque, as sent (see SignedMeterValuesReceived)
                extra = {"signed": {"signed_data": signed.get("signed_meter_data"),
                                    "signing_method": signed.get("signing_method"),
                                    "encoding_method": signed.get("encoding_method"),
                                    "public_key": signed.get("public_key"),
                                    "format": "signedMeterValue"}}
            else:
                extra = {}
            sampled.append({
                **extra,
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


async def record_transaction_event(hub: Hub, ev: TransactionEventIn,
                                   states: TransactionStates | None = None
                                   ) -> TransactionEventResult:
    """Apply one TransactionEvent; committed when this returns.

    ``states``: the station session's transactions (see transaction_state); without it the
    transaction's state is read from the database.
    """
    cached = states.get(ev.ocpp_transaction_id) if states is not None else None
    runs = 0

    async def work(conn: AsyncConnection) -> tuple[TransactionEventResult, TransactionState]:
        nonlocal runs
        runs += 1
        state = cached
        if state is None or runs > 1:
            # Re-run alone because its batch failed: perhaps on a repeat the cache did not
            # know of (another connection of the station stored it), so trust the database.
            state = await load_state(conn, ev.station_id, ev.ocpp_transaction_id)
        return await _apply(hub, conn, ev, state)

    result, state = await hub.committer.run(work)
    if states is not None:
        states.put(ev.ocpp_transaction_id, state)
    return result


async def _apply(hub: Hub, conn: AsyncConnection, ev: TransactionEventIn,
                 state: TransactionState | None
                 ) -> tuple[TransactionEventResult, TransactionState]:
    """The steps: create or find the transaction, compute what the event changes (pure),
    write it and emit its events, refresh the EVSE's status."""
    if state is not None and ev.seq_no in state.seen:
        return TransactionEventResult(state.transaction_id, state.core["connector_id"],
                                      duplicate=True), state
    now = utcnow()
    readings = _register_readings(ev.meter_value)
    created = state is None
    if state is None:
        state = await _create(conn, ev, readings, now)
    detail = _detail_changes(state.detail, ev, readings, created, now)
    core = _core_changes(state, ev, detail, created)
    new = state.after(ev.seq_no, detail, core)
    ended_now = ev.event_type == "Ended" and state.core["status"] == "active"
    samples = tuple(flatten_meter_values(ev.meter_value))
    await _write(conn, ev, state, new, core, samples, created=created)
    signed = signed_values(samples)
    if signed:  # before the transaction may end below: its CDR carries them
        await emit(conn, SignedMeterValuesReceived(
            station_id=ev.station_id, connector_id=new.core["connector_id"],
            transaction_id=new.transaction_id, values=signed))
    # In the event's own transaction, like 1.6 MeterValues and like Started and Ended here, so
    # that a feature can write an outbox row (e.g. an OICP progress notification) atomically
    # with the meter values.
    await _meter_events(conn, ev, new, samples, live=not created and not ended_now
                        and state.core["status"] == "active")
    if ended_now:
        await _end(conn, ev, new)
    # Emits the EVSE's StatusChanged when it changed.
    await _refresh_status(hub, conn, ev, state, new, created=created, ended_now=ended_now)
    result = TransactionEventResult(new.transaction_id, new.core["connector_id"],
                                    created=created, ended=ended_now)
    return result, new


def _detail_changes(detail: dict[str, Any], ev: TransactionEventIn, readings: list[_Reading],
                    created: bool, now: datetime) -> dict[str, Any]:
    """What the event changes in the details only 2.0.1 has (``meter_start`` included: it
    goes to the core row)."""
    newest = ev.seq_no >= detail["last_seq_no"] or detail["events"] == 0
    changes: dict[str, Any] = {
        "events": detail["events"] + (0 if created else 1),
        "last_seq_no": max(detail["last_seq_no"], ev.seq_no),
        "offline": detail["offline"] or ev.offline,
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
        if detail[name] is None and getattr(ev, name) is not None:
            changes[name] = getattr(ev, name)
    if ev.time_spent_charging is not None:
        changes["time_spent_charging"] = max(ev.time_spent_charging,
                                             detail["time_spent_charging"] or 0)
    changes.update(_meter_changes(detail, readings))
    return changes


def _core_changes(state: TransactionState, ev: TransactionEventIn, detail: dict[str, Any],
                  created: bool) -> dict[str, Any]:
    """What the event changes in the core transaction row (takes ``meter_start`` out of
    ``detail``)."""
    tx = state.core
    core: dict[str, Any] = {}
    if tx["connector_id"] == 0 and ev.evse_id:
        # Created by an event without EVSE (out of order): the first EVSE seen places it.
        core["connector_id"] = ev.evse_id
    if ev.event_type == "Started" and not created:
        core["start_timestamp"] = ev.timestamp
    if "meter_start" in detail:
        core["meter_start"] = detail.pop("meter_start")
    if ev.id_token is not None:
        # Like 1.6: the token that starts is id_tag, the one presented to stop is stop_id_tag.
        if ev.event_type == "Ended" or ev.trigger_reason == "StopAuthorized":
            core["stop_id_tag"] = ev.id_token
        elif tx["id_tag"] is None:
            core["id_tag"], core["id_tag_status"] = ev.id_token, ev.id_token_status
    if ev.reservation_id is not None and tx["reservation_id"] is None:
        core["reservation_id"] = ev.reservation_id
    last_energy = detail.get("last_energy_wh", state.detail["last_energy_wh"])
    if ev.event_type == "Ended" and tx["status"] == "active":
        core.update(status="completed", stop_timestamp=ev.timestamp,
                    stop_reason=ev.stopped_reason, meter_stop=last_energy)
    elif tx["status"] == "completed" and "last_energy_wh" in detail:
        core["meter_stop"] = last_energy  # a late event corrected the final reading
    return core


async def _write(conn: AsyncConnection, ev: TransactionEventIn,
                 old: TransactionState, new: TransactionState, core: dict[str, Any],
                 samples: tuple[dict[str, Any], ...], *, created: bool) -> None:
    """The rows: the core row at once (hooks in this unit read it), everything else with the
    batch (one statement per table for all units)."""
    tx_id = new.transaction_id
    now = new.detail["updated_at"]
    if "connector_id" in core and old.core["status"] == "active":
        await set_current_transaction(conn, ev.station_id, core["connector_id"], tx_id)
    if "reservation_id" in core:
        await _reservation_used(conn, ev, tx_id, now)
    if core:
        await conn.execute(_UPDATE_TRANSACTION, {"b_id": tx_id, **core, "updated_at": now})
    if core.get("id_tag") is not None and not created:
        await emit(conn, TransactionAuthorized(
            station_id=ev.station_id, transaction_id=tx_id,
            connector_id=new.core["connector_id"], id_tag=core["id_tag"],
            meter_start=new.core["meter_start"], timestamp=ev.timestamp))
    # A duplicate event in the same batch fails the batch on the unique (station,
    # transactionId, seqNo) key; the group commit then retries unit by unit, and the second
    # one is seen as a repeat.
    detail = Write(_T201, [new.detail]) if created else Write(
        _T201, [new.detail], update_key=("transaction_id",))
    await write_later(conn, [detail, Write(TransactionEventRecord.__table__, [{
        "station_id": ev.station_id, "ocpp_transaction_id": ev.ocpp_transaction_id,
        "seq_no": ev.seq_no, "event_type": ev.event_type, "trigger_reason": ev.trigger_reason,
        "timestamp": ev.timestamp, "offline": ev.offline, "charging_state": ev.charging_state,
        "evse_id": ev.evse_id, "connector_id": ev.connector_id, "id_token": ev.id_token,
        "id_token_type": ev.id_token_type, "stopped_reason": ev.stopped_reason,
        "meter_values": len(ev.meter_value), "transaction_id": tx_id, "received_at": now,
    }]), *sample_writes(ev.station_id, new.core["connector_id"], tx_id, ev.meter_value,
                        "TransactionEvent", samples)])


async def _meter_events(conn: AsyncConnection, ev: TransactionEventIn, new: TransactionState,
                        samples: tuple[dict[str, Any], ...], *, live: bool) -> None:
    """MeterValuesReceived, and TransactionUpdated for a running transaction (Started
    carries meter_start and Ended the final reading in their own events, like 1.6)."""
    if not samples:
        return
    tx_id, connector_id = new.transaction_id, new.core["connector_id"]
    await emit(conn, MeterValuesReceived(station_id=ev.station_id, connector_id=connector_id,
                                         transaction_id=tx_id, samples=samples))
    if live:
        await emit(conn, TransactionUpdated(station_id=ev.station_id, transaction_id=tx_id,
                                            connector_id=connector_id,
                                            energy_wh=energy_register_wh(samples)))


async def _end(conn: AsyncConnection, ev: TransactionEventIn, new: TransactionState) -> None:
    tx = new.core
    await set_current_transaction(conn, ev.station_id, tx["connector_id"], None,
                                  only_if=new.transaction_id)
    await emit(conn, TransactionEnded(
        station_id=ev.station_id, transaction_id=new.transaction_id,
        connector_id=tx["connector_id"], id_tag=tx["id_tag"], meter_start=tx["meter_start"],
        meter_stop=new.detail["last_energy_wh"], start_timestamp=tx["start_timestamp"],
        stop_timestamp=ev.timestamp, reason=ev.stopped_reason))


async def _refresh_status(hub: Hub, conn: AsyncConnection, ev: TransactionEventIn,
                          old: TransactionState, new: TransactionState, *, created: bool,
                          ended_now: bool) -> StatusChanged | None:
    """The EVSE's derived status depends on the transaction only through its existence, its
    EVSE and its chargingState (evse_status.core_status): other events cannot change it."""
    connector_id = new.core["connector_id"]
    moved = connector_id != old.core["connector_id"]
    charging_state_changed = new.detail["charging_state"] != old.detail["charging_state"]
    if not connector_id or not (created or ended_now or moved or charging_state_changed):
        return None
    # This transaction's details row may still wait in the batch: say how it runs.
    running = (new.detail["charging_state"],) if new.core["status"] == "active" else None
    return await refresh_status(hub, conn, ev.station_id, connector_id, ev.timestamp,
                                ended_now=ended_now, running=running)


async def _create(conn: AsyncConnection, ev: TransactionEventIn, readings: list[_Reading],
                  now: datetime) -> TransactionState:
    """The first event of a transaction creates it, whatever its type (its details row is
    written with the event's changes, in _write)."""
    connector_id = ev.evse_id or 0
    start = _pick_start(readings)
    core = {"station_id": ev.station_id, "connector_id": connector_id, "id_tag": ev.id_token,
            "id_tag_status": ev.id_token_status, "meter_start": start.wh if start else None,
            "start_timestamp": ev.timestamp, "reservation_id": ev.reservation_id,
            "ocpp_transaction_id": ev.ocpp_transaction_id, "status": "active",
            "created_at": now, "updated_at": now}
    tx_id = (await conn.execute(_INSERT_TRANSACTION, core)).scalar_one()
    detail = dict(
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
    if connector_id:
        await set_current_transaction(conn, ev.station_id, connector_id, tx_id)
    if ev.reservation_id is not None:
        await _reservation_used(conn, ev, tx_id, now)
    await emit(conn, TransactionStarted(
        station_id=ev.station_id, transaction_id=tx_id, connector_id=connector_id,
        id_tag=ev.id_token, meter_start=core["meter_start"], timestamp=ev.timestamp,
        reservation_id=ev.reservation_id))
    return TransactionState(detail, {"id": tx_id, **{
        name: core[name] for name in CORE_COLUMNS if name != "id"}}, frozenset())


async def _reservation_used(conn: AsyncConnection, ev: TransactionEventIn, tx_id: int,
                            now: datetime) -> None:
    await conn.execute(_RESERVATION_USED, {"b_id": ev.reservation_id,
                                           "b_station": ev.station_id, "status": "Used",
                                           "transaction_id": tx_id, "updated_at": now})


def _pick_start(readings: list[_Reading]) -> _Reading | None:
    begins = [r for r in readings if r.context == BEGIN]
    pool = begins or readings
    return min(pool, key=lambda r: r.timestamp) if pool else None


def _meter_changes(detail: dict[str, Any], readings: list[_Reading]) -> dict[str, Any]:
    """Move meter start / the newest register reading towards the truth (see module doc)."""
    changes: dict[str, Any] = {}
    if not readings:
        return changes
    if not detail["meter_start_begin"]:
        start = _pick_start(readings)
        assert start is not None
        if start.context == BEGIN or detail["meter_start_at"] is None or (
            start.timestamp < detail["meter_start_at"]
        ):
            changes.update(meter_start=start.wh, meter_start_at=start.timestamp,
                           meter_start_begin=start.context == BEGIN)
    if not detail["last_energy_end"]:
        ends = [r for r in readings if r.context == END]
        last = max(ends or readings, key=lambda r: r.timestamp)
        if last.context == END or detail["last_energy_at"] is None or (
            last.timestamp >= detail["last_energy_at"]
        ):
            changes.update(last_energy_wh=last.wh, last_energy_at=last.timestamp,
                           last_energy_end=last.context == END)
    return changes


# The hot path's statements, built once (see transactions.py).
_T201 = Transaction201.__table__
_INSERT_TRANSACTION = sa.insert(Transaction).returning(Transaction.id)
# Executed with the columns to set as parameters (SET takes them from the parameter names).
_UPDATE_TRANSACTION = sa.update(Transaction).where(Transaction.id == sa.bindparam("b_id"))
_RESERVATION_USED = sa.update(Reservation).where(
    Reservation.id == sa.bindparam("b_id"), Reservation.station_id == sa.bindparam("b_station"))

"""Transactions and meter values: the facts a charger must never lose.

Each function commits (through group commit) before it returns, so the session answers only
facts that are on disk. Transaction ids come from the database (AUTOINCREMENT / a sequence), so
an id handed to a charger is never handed out again, even after a crash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.context import Hub
from hub.db.base import utcnow
from hub.db.group_commit import Write, emit, write_later, write_rows
from hub.db.models import Connector, LatestReading, MeterValue, Reservation, Transaction
from hub.events import (
    Event,
    MeterValuesReceived,
    SignedMeterValuesReceived,
    TransactionEnded,
    TransactionStarted,
    TransactionUpdated,
)
from hub.services.timestamps import parse_timestamp

DEFAULT_MEASURAND = "Energy.Active.Import.Register"


@dataclass(frozen=True)
class StartedTransaction:
    transaction_id: int
    duplicate: bool


async def start_transaction(
    hub: Hub,
    station_id: str,
    connector_id: int,
    id_tag: str | None,
    meter_start: int | None,
    timestamp: datetime,
    reservation_id: int | None = None,
    id_tag_status: str | None = None,
    ocpp_transaction_id: str | None = None,
) -> StartedTransaction:
    """Record a started transaction and return its id.

    A charger that lost our answer sends the same StartTransaction again; it gets the id it was
    already given instead of a second transaction.
    """
    now = utcnow()

    async def work(conn: AsyncConnection) -> StartedTransaction:
        # One statement for a new start (most of them): the row is inserted unless the same
        # start is already stored; only a repeat, which inserts nothing, reads that one back.
        transaction_id = (await conn.execute(_INSERT_NEW, {
            "station_id": station_id, "connector_id": connector_id, "id_tag": id_tag,
            "id_tag_status": id_tag_status, "meter_start": meter_start,
            "start_timestamp": timestamp, "reservation_id": reservation_id,
            "ocpp_transaction_id": ocpp_transaction_id, "status": "active", "created_at": now,
            "updated_at": now})).scalar()
        if transaction_id is None:
            existing = (await conn.execute(_FIND_START, {
                "station_id": station_id, "connector_id": connector_id,
                "start_timestamp": timestamp, "meter_start": meter_start,
                "id_tag": id_tag})).scalar_one()
            return StartedTransaction(existing, True)
        await set_current_transaction(conn, station_id, connector_id, transaction_id)
        if reservation_id is not None:
            await conn.execute(sa.update(Reservation).where(
                Reservation.id == reservation_id, Reservation.station_id == station_id
            ).values(status="Used", transaction_id=transaction_id, updated_at=now))
        await emit(conn, TransactionStarted(
            station_id=station_id, transaction_id=transaction_id, connector_id=connector_id,
            id_tag=id_tag, meter_start=meter_start, timestamp=timestamp,
            reservation_id=reservation_id,
        ))
        return StartedTransaction(transaction_id, False)

    return await hub.committer.run(work)


@dataclass(frozen=True)
class StoppedTransaction:
    transaction_id: int
    found: bool
    already_stopped: bool
    id_tag: str | None = None


async def stop_transaction(
    hub: Hub,
    station_id: str,
    transaction_id: int,
    meter_stop: int | None,
    timestamp: datetime,
    reason: str | None = None,
    id_tag: str | None = None,
    transaction_data: list[dict[str, Any]] | None = None,
) -> StoppedTransaction:
    """Close a transaction. A repeated stop of a closed transaction changes nothing."""
    now = utcnow()

    async def work(conn: AsyncConnection) -> StoppedTransaction:
        row = (await conn.execute(_FIND_TRANSACTION, {
            "b_id": transaction_id, "b_station": station_id})).first()
        if transaction_data:
            # The charger's transactionData is kept even for a stop the hub cannot match.
            await write_rows(conn, sample_writes(
                station_id, row.connector_id if row else 0, transaction_id, transaction_data,
                "StopTransaction", live=row is not None))
        if row is None:
            return StoppedTransaction(transaction_id, False, False)
        if row.status == "completed":
            return StoppedTransaction(transaction_id, True, True, row.id_tag)
        signed = signed_values(flatten_meter_values(transaction_data or ()))
        if signed:  # the transaction's last signed readings, before it ends
            await emit(conn, SignedMeterValuesReceived(
                station_id=station_id, connector_id=row.connector_id,
                transaction_id=transaction_id, values=signed))
        await conn.execute(_CLOSE_TRANSACTION, {
            "b_id": transaction_id, "meter_stop": meter_stop, "stop_timestamp": timestamp,
            "stop_reason": reason, "stop_id_tag": id_tag, "status": "completed",
            "updated_at": now})
        await set_current_transaction(conn, station_id, row.connector_id, None,
                                       only_if=transaction_id)
        await emit(conn, TransactionEnded(
            station_id=station_id, transaction_id=transaction_id, connector_id=row.connector_id,
            id_tag=row.id_tag, meter_start=row.meter_start, meter_stop=meter_stop,
            start_timestamp=row.start_timestamp, stop_timestamp=timestamp, reason=reason,
        ))
        return StoppedTransaction(transaction_id, True, False, row.id_tag)

    return await hub.committer.run(work)


async def record_meter_values(
    hub: Hub,
    station_id: str,
    connector_id: int,
    meter_value: list[dict[str, Any]],
    transaction_id: int | None = None,
) -> int:
    """Store every sampled value with all its attributes; return how many were stored."""
    samples = tuple(flatten_meter_values(meter_value))
    # Their in-transaction hooks run in the samples' transaction, like start and stop, so that
    # a feature can write an outbox row (e.g. an OICP progress notification) or keep signed
    # meter data atomically.
    events: list[Event] = []
    if transaction_id is not None:
        signed = signed_values(samples)
        if signed:
            events.append(SignedMeterValuesReceived(
                station_id=station_id, connector_id=connector_id,
                transaction_id=transaction_id, values=signed))
    events.append(MeterValuesReceived(station_id=station_id, connector_id=connector_id,
                                      transaction_id=transaction_id, samples=samples))
    if transaction_id is not None:
        events.append(TransactionUpdated(station_id=station_id, transaction_id=transaction_id,
                                         connector_id=connector_id,
                                         energy_wh=energy_register_wh(samples)))
    await hub.committer.run(writes=sample_writes(station_id, connector_id, transaction_id,
                                                 meter_value, "MeterValues", samples),
                            events=events)
    return len(samples)


def flatten_meter_values(meter_value: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """OCPP MeterValue[] (snake_case keys) -> one dict per sampled value."""
    samples = []
    for entry in meter_value:
        timestamp = entry["timestamp"]
        if isinstance(timestamp, str):
            timestamp = parse_timestamp(timestamp)
        for sv in entry.get("sampled_value", ()):
            value = str(sv["value"])
            signed = sv.get("signed")
            if sv.get("format") == "SignedData":
                # 1.6: the value is the signed blob (e.g. OCMF), kept whole in ``signed``;
                # the meter_values column holds 64 characters, so a longer one leaves a
                # reference there.
                signed = {"signed_data": value, "format": "SignedData"}
                if len(value) > 64:
                    value = "signed:" + hashlib.sha256(value.encode()).hexdigest()[:32]
            samples.append({
                "timestamp": timestamp,
                "value": value,
                "numeric_value": _to_float(value),
                "context": sv.get("context"),
                "format": sv.get("format"),
                "measurand": sv.get("measurand") or DEFAULT_MEASURAND,
                "phase": sv.get("phase"),
                "location": sv.get("location"),
                "unit": sv.get("unit"),
                "signed": signed,
            })
    return samples


def signed_values(samples: Iterable[dict[str, Any]]) -> tuple[dict[str, Any], ...]:
    """The signed meter data among ``samples`` (see ``SignedMeterValuesReceived``)."""
    return tuple({"timestamp": s["timestamp"], "context": s["context"],
                  "measurand": s["measurand"], **s["signed"]}
                 for s in samples if s.get("signed"))


def sample_writes(
    station_id: str, connector_id: int, transaction_id: int | None,
    meter_value: list[dict[str, Any]], source: str,
    samples: tuple[dict[str, Any], ...] | None = None, live: bool = True,
) -> list[Write]:
    """The meter_values rows and (with ``live``) the live-reading upserts for one message."""
    samples = samples if samples is not None else tuple(flatten_meter_values(meter_value))
    if not samples:
        return []
    where = {"station_id": station_id, "connector_id": connector_id,
             "transaction_id": transaction_id, "source": source}
    rows = [{**s, **where} for s in samples]
    for row in rows:  # a merge and a pop: a filtering comprehension per row cost 3x as much
        row.pop("signed", None)
    writes = [Write(MeterValue.__table__, rows)]
    if live:
        writes.append(Write(LatestReading.__table__, [
            {"station_id": station_id, "connector_id": connector_id, "measurand": s["measurand"],
             "phase": s["phase"] or "", "location": s["location"] or "", "value": s["value"],
             "numeric_value": s["numeric_value"], "unit": s["unit"],
             "timestamp": s["timestamp"], "transaction_id": transaction_id}
            for s in samples
        ], upsert_key=LATEST_KEY, newer_than="timestamp"))
    return writes


LATEST_KEY = ("station_id", "connector_id", "measurand", "phase", "location")


async def set_current_transaction(conn: AsyncConnection, station_id: str, connector_id: int,
                                  transaction_id: int | None, only_if: int | None = None) -> None:
    """Point the connector at its running transaction (None when it ends; ``only_if`` = only
    clear it when it still points at that transaction).

    Written with the rest of the batch (write_later: one statement for all units, not one or
    two per start and stop). The batch writes upserts before updates, so a batch that points
    a connector at a new transaction and clears an ended one (or creates and ends one, a
    2.0.1 offline transaction) leaves the pointer where it should be, in any unit order.
    Nothing reads the pointer inside a unit of work."""
    now = utcnow()
    if only_if is None:
        write = Write(_CONNECTORS, [{
            "station_id": station_id, "connector_id": connector_id,
            "current_transaction_id": transaction_id, "availability": "Operative",
            "updated_at": now}], upsert_key=_CONNECTOR_KEY, update=_POINTER)
    else:
        write = Write(_CONNECTORS, [{
            "station_id": station_id, "connector_id": connector_id,
            "current_transaction_id": only_if, "updated_at": now}],
            update_key=(*_CONNECTOR_KEY, "current_transaction_id"),
            assign=(("current_transaction_id", transaction_id),))
    await write_later(conn, [write])


def _to_float(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def energy_register_wh(samples: tuple[dict[str, Any], ...]) -> float | None:
    """The last whole-meter energy register reading of ``samples``, in Wh."""
    for s in reversed(samples):
        if s["measurand"] == DEFAULT_MEASURAND and s["numeric_value"] is not None and (
            s["phase"] is None
        ):
            return s["numeric_value"] * (1000 if s["unit"] == "kWh" else 1)
    return None


# The hot path's statements, built once: SQLAlchemy then reuses their cache keys and compiled
# forms (building a statement per message costs about as much as executing it).
def _bind(column: sa.Column[Any]) -> sa.BindParameter[Any]:
    # Typed: PostgreSQL must know a bind's type where no column gives it (a SELECT list).
    return sa.bindparam(column.name, type_=column.type)


_T = Transaction.__table__
_NEW_COLUMNS = ("station_id", "connector_id", "id_tag", "id_tag_status", "meter_start",
                "start_timestamp", "reservation_id", "ocpp_transaction_id", "status",
                "created_at", "updated_at")
# The same start: station, connector, start time, meter start and id tag (either may be null).
_SAME_START = (
    _T.c.station_id == _bind(_T.c.station_id),
    _T.c.connector_id == _bind(_T.c.connector_id),
    _T.c.start_timestamp == _bind(_T.c.start_timestamp),
    _T.c.meter_start.is_not_distinct_from(_bind(_T.c.meter_start)),
    _T.c.id_tag.is_not_distinct_from(_bind(_T.c.id_tag)),
)
_FIND_START = sa.select(_T.c.id).where(*_SAME_START).order_by(_T.c.id).limit(1)
# INSERT ... SELECT <the new row> WHERE NOT EXISTS (<the same start>) RETURNING id: SQLite
# (3.35+) and PostgreSQL alike. It sees what a separate SELECT before the INSERT saw, no more
# and no less (concurrent writers on PostgreSQL included).
_INSERT_NEW = sa.insert(_T).from_select(
    _NEW_COLUMNS,
    sa.select(*(_bind(_T.c[name]) for name in _NEW_COLUMNS)).where(
        ~sa.exists().where(*_SAME_START)),
).returning(_T.c.id)
# Only what a stop uses: each datetime column read is a conversion.
_FIND_TRANSACTION = sa.select(
    _T.c.connector_id, _T.c.status, _T.c.id_tag, _T.c.meter_start, _T.c.start_timestamp,
).where(
    Transaction.id == sa.bindparam("b_id"), Transaction.station_id == sa.bindparam("b_station"))
_CLOSE_TRANSACTION = sa.update(Transaction).where(Transaction.id == sa.bindparam("b_id"))
_CONNECTORS = Connector.__table__
_CONNECTOR_KEY = ("station_id", "connector_id")
_POINTER = ("current_transaction_id", "updated_at")

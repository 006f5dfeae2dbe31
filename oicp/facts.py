"""OCPP facts -> OICP outbox rows, inside the fact's own database transaction.

Registered with ``hub.bus.on_commit``: each handler runs in the group-commit transaction that
records the fact (status, transaction start/update/end, station connect/disconnect), so the
outbox row exists exactly when the fact does. Handlers only read and write the database.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.base import utcnow
from hub.db.group_commit import write_pending
from hub.db.models import MeterValue, Transaction
from hub.events import (
    EvseDataChanged,
    IdTokenErased,
    StationConnected,
    StationDisconnected,
    StatusChanged,
    TransactionAuthorized,
    TransactionEnded,
    TransactionStarted,
    TransactionUpdated,
)
from oicp import eichrecht, messages, outbox
from oicp.erasure import erase_session_token
from oicp.models import (
    ACTIVE,
    AUTHORIZE,
    CANCELLED,
    ENDED,
    PENDING,
    REMOTE,
    RESERVATION,
    RESERVED,
    STOPPED,
    OicpSession,
)

if TYPE_CHECKING:
    from oicp.runtime import OicpRuntime

log = logging.getLogger(__name__)
SESSIONS = OicpSession.__table__
ENERGY = "Energy.Active.Import.Register"
#: 1.6 connector states in which no energy flows any more, the session still on.
ENERGY_STOPPED = frozenset({"SuspendedEV", "Finishing"})
# OCPP 1.6 ChargePointErrorCode -> OICP ErrorClassType (the rest is a CriticalError).
CONNECTOR_ERRORS = frozenset({"ConnectorLockFailure"})
MAX_METER_VALUES_IN_CDR = 100
BEGIN_END = ("Transaction.Begin", "Transaction.End")


def error_type(error_code: str | None) -> str:
    return "ConnectorError" if error_code in CONNECTOR_ERRORS else "CriticalError"


class FactHooks:
    def __init__(self, runtime: OicpRuntime) -> None:
        self.rt = runtime
        self.config = runtime.config
        self.directory = runtime.directory

    def register(self) -> None:
        bus = self.rt.hub.bus
        bus.on_commit(StatusChanged, self.on_status)
        bus.on_commit(StationConnected, self.on_connected)
        bus.on_commit(StationDisconnected, self.on_disconnected)
        bus.on_commit(TransactionStarted, self.on_started)
        bus.on_commit(TransactionUpdated, self.on_updated)
        bus.on_commit(TransactionEnded, self.on_ended)
        bus.on_commit(TransactionAuthorized, self.on_authorized)
        bus.on_commit(IdTokenErased, self.on_id_token_erased)
        events: list[type[Any]] = [StatusChanged, StationConnected, StationDisconnected,
                                   TransactionStarted, TransactionAuthorized,
                                   TransactionUpdated, TransactionEnded]
        if self.config.push_evse_data_on_change:
            bus.on_commit(EvseDataChanged, self.on_evse_data_changed)
            events.append(EvseDataChanged)
        # After the commit, wake the worker so that the row goes out at once.
        for event_type in events:
            bus.subscribe(event_type, self._wake)

    async def _wake(self, _event: Any) -> None:
        self.rt.worker.wake()

    async def on_id_token_erased(self, conn: AsyncConnection, event: IdTokenErased) -> None:
        """GDPR: the roaming sessions of an erased token name its pseudonym instead."""
        await erase_session_token(conn, event.id_token, event.pseudonym)

    # -- EVSE data and status -----------------------------------------------------------------

    async def on_evse_data_changed(self, conn: AsyncConnection, event: EvseDataChanged) -> None:
        await outbox.request_evse_data_sync(conn, event.reason,
                                            self.config.evse_data_change_delay)

    async def on_status(self, conn: AsyncConnection, event: StatusChanged) -> None:
        if event.connector_id and event.previous_status == event.status and (
                event.error_code in (None, "NoError")):
            return
        refs = await self.directory.for_station(conn, event.station_id, event.connector_id)
        statuses = await self.directory.statuses(conn, refs)
        for ref in refs:
            await outbox.enqueue_status(conn, ref.evse_id, statuses[ref.evse_id])
        if event.connector_id and self.config.notifications and (
                event.status == "Faulted" or event.error_code not in (None, "NoError")):
            await self._error_notification(conn, event)
        elif event.connector_id and self.config.notifications and \
                event.previous_status == "Charging" and event.status in ENERGY_STOPPED:
            await self._charging_ended(conn, event)

    async def _charging_ended(self, conn: AsyncConnection, event: StatusChanged) -> None:
        """OICP: ChargingNotification End once energy no longer flows, the session still on
        (a 1.6 connector went from Charging to SuspendedEV or Finishing)."""
        row = (await conn.execute(sa.select(SESSIONS).where(
            SESSIONS.c.station_id == event.station_id,
            SESSIONS.c.connector_id == event.connector_id, SESSIONS.c.state == ACTIVE,
            SESSIONS.c.charging_ended_at.is_(None)))).first()
        if row is None or not row.evse_id or row.transaction_id is None:
            return
        tx = (await conn.execute(sa.select(Transaction.meter_start, Transaction.start_timestamp)
                                 .where(Transaction.id == row.transaction_id))).first()
        if tx is None:
            return
        await write_pending(conn)
        readings = await _meter_readings_wh(conn, row.transaction_id)
        await conn.execute(sa.update(SESSIONS).where(SESSIONS.c.session_id == row.session_id)
                           .values(charging_ended_at=event.at, updated_at=utcnow()))
        tz = await self._tz(conn, event.station_id, event.connector_id)
        body = messages.notification_end(row, self.config.operator_id,  # type: ignore[arg-type]
                                         tx.start_timestamp, event.at, tx.meter_start,
                                         int(readings[-1]) if readings else None, tz)
        await outbox.enqueue(conn, outbox.NOTIFICATION, row.session_id, body)

    async def _error_notification(self, conn: AsyncConnection, event: StatusChanged) -> None:
        row = (await conn.execute(sa.select(SESSIONS).where(
            SESSIONS.c.station_id == event.station_id,
            SESSIONS.c.connector_id == event.connector_id,
            SESSIONS.c.state.in_((ACTIVE, PENDING)), SESSIONS.c.kind.in_((REMOTE, AUTHORIZE)),
            SESSIONS.c.evse_id.is_not(None),
        ).order_by(SESSIONS.c.created_at.desc()).limit(1))).first()
        if row is None:
            return
        info = ": ".join(p for p in (event.error_code, event.info, event.vendor_error_code) if p)
        body = messages.notification_error(row, self.config.operator_id,  # type: ignore[arg-type]
                                           error_type(event.error_code), info or event.status)
        await outbox.enqueue(conn, outbox.NOTIFICATION, row.session_id, body)

    async def on_connected(self, conn: AsyncConnection, event: StationConnected) -> None:
        # The last known statuses replace "Unknown"; fresh StatusNotifications follow anyway.
        refs = await self.directory.for_station(conn, event.station_id)
        for evse_id, status in (await self.directory.statuses(conn, refs)).items():
            await outbox.enqueue_status(conn, evse_id, status)

    async def on_disconnected(self, conn: AsyncConnection, event: StationDisconnected) -> None:
        for ref in await self.directory.for_station(conn, event.station_id):
            await outbox.enqueue_status(conn, ref.evse_id, "Unknown")

    # -- sessions -----------------------------------------------------------------------------

    async def _tz(self, conn: AsyncConnection, station_id: str, connector_id: int | None) -> Any:
        refs = await self.directory.for_station(conn, station_id, connector_id)
        return messages.zone(refs[0].timezone if refs else None, self.config.zone)

    async def on_started(self, conn: AsyncConnection, event: TransactionStarted) -> None:
        if event.reservation_id is not None:
            await self._reservation_used(conn, event, utcnow())
        if event.id_tag:
            await self._link_session(conn, event)

    async def on_authorized(self, conn: AsyncConnection, event: TransactionAuthorized) -> None:
        """A 2.0.1 transaction that began when the EV was plugged in, authorised later (e.g. by
        the remote start Hubject asked for): the session starts now."""
        await self._link_session(conn, event)

    async def _link_session(self, conn: AsyncConnection,
                            event: TransactionStarted | TransactionAuthorized) -> None:
        """Make the pending remote/authorised session of this token the transaction's."""
        assert event.id_tag
        row = (await conn.execute(sa.select(SESSIONS).where(
            SESSIONS.c.station_id == event.station_id, SESSIONS.c.state == PENDING,
            SESSIONS.c.kind.in_((REMOTE, AUTHORIZE)),
            sa.func.upper(SESSIONS.c.id_tag) == event.id_tag.upper(),
            sa.or_(SESSIONS.c.connector_id.is_(None),
                   SESSIONS.c.connector_id == event.connector_id),
        ).order_by(SESSIONS.c.created_at.desc()).limit(1))).first()
        if row is None:
            return
        refs = await self.directory.for_station(conn, event.station_id, event.connector_id)
        evse_id = row.evse_id or (refs[0].evse_id if refs else None)
        updates = {
            "state": ACTIVE, "transaction_id": event.transaction_id,
            "connector_id": event.connector_id, "started_at": event.timestamp,
            "evse_id": evse_id, "last_progress_at": event.timestamp, "updated_at": utcnow(),
            "cpo_partner_session_id": row.cpo_partner_session_id
            or f"{event.station_id}-{event.transaction_id}",
        }
        await conn.execute(sa.update(SESSIONS).where(
            SESSIONS.c.session_id == row.session_id).values(**updates))
        session = SimpleNamespace(**{**row._mapping, **updates})
        if self.config.notifications and evse_id:
            tz = messages.zone(refs[0].timezone if refs else None, self.config.zone)
            body = messages.notification_start(session, self.config.operator_id,  # type: ignore[arg-type]
                                               event.timestamp, event.meter_start, tz)
            await outbox.enqueue(conn, outbox.NOTIFICATION, row.session_id, body)

    async def _reservation_used(self, conn: AsyncConnection, event: TransactionStarted,
                                now: datetime) -> None:
        row = (await conn.execute(sa.select(SESSIONS).where(
            SESSIONS.c.station_id == event.station_id, SESSIONS.c.kind == RESERVATION,
            SESSIONS.c.reservation_id == event.reservation_id, SESSIONS.c.state == RESERVED,
        ))).first()
        if row is not None:
            await end_reservation(conn, self.rt, row, event.timestamp, now)

    async def _active_session(self, conn: AsyncConnection, station_id: str,
                              transaction_id: int) -> Any:
        return (await conn.execute(sa.select(SESSIONS).where(
            SESSIONS.c.station_id == station_id, SESSIONS.c.transaction_id == transaction_id,
            SESSIONS.c.state == ACTIVE))).first()

    async def on_updated(self, conn: AsyncConnection, event: TransactionUpdated) -> None:
        if not self.config.notifications:
            return
        row = await self._active_session(conn, event.station_id, event.transaction_id)
        if row is None or not row.evse_id:
            return
        now = event.at
        interval = timedelta(seconds=self.config.progress_interval)
        if row.last_progress_at is not None and now - row.last_progress_at < interval:
            return
        tx = (await conn.execute(sa.select(Transaction.meter_start, Transaction.start_timestamp)
                                 .where(Transaction.id == event.transaction_id))).first()
        if tx is None:
            return
        await conn.execute(sa.update(SESSIONS).where(SESSIONS.c.session_id == row.session_id)
                           .values(last_progress_at=now, updated_at=utcnow()))
        tz = await self._tz(conn, event.station_id, event.connector_id)
        body = messages.notification_progress(row, self.config.operator_id,  # type: ignore[arg-type]
                                              tx.start_timestamp, now, tx.meter_start,
                                              event.energy_wh, tz)
        await outbox.enqueue(conn, outbox.NOTIFICATION, row.session_id, body)

    async def on_ended(self, conn: AsyncConnection, event: TransactionEnded) -> None:
        row = await self._active_session(conn, event.station_id, event.transaction_id)
        if row is None:
            return
        now = utcnow()
        await conn.execute(sa.update(SESSIONS).where(SESSIONS.c.session_id == row.session_id)
                           .values(state=STOPPED, ended_at=event.stop_timestamp, updated_at=now))
        if not row.evse_id or not row.identification:
            log.error("OICP session %s has no EvseID or identification; no CDR can be sent",
                      row.session_id)
            return
        tz = await self._tz(conn, event.station_id, event.connector_id)
        if self.config.notifications and row.charging_ended_at is None:
            body = messages.notification_end(row, self.config.operator_id,  # type: ignore[arg-type]
                                             event.start_timestamp, event.stop_timestamp,
                                             event.meter_start, event.meter_stop, tz)
            await outbox.enqueue(conn, outbox.NOTIFICATION, row.session_id, body)
        await write_pending(conn)  # the transaction's last readings may still be pending
        readings = await _meter_readings_wh(conn, event.transaction_id)
        cdr = messages.charge_detail_record(row, event.start_timestamp,  # type: ignore[arg-type]
                                            event.stop_timestamp, event.meter_start,
                                            event.meter_stop, readings, tz)
        cdr.update(await eichrecht.cdr_fields(conn, self.config, event.transaction_id,
                                              row.evse_id, event.station_id))
        await outbox.enqueue(conn, outbox.CDR, row.session_id, cdr)


async def end_reservation(conn: AsyncConnection, rt: OicpRuntime, row: Any, end: datetime,
                          now: datetime, state: str = ENDED) -> None:
    """Close a reservation session and queue its CDR (OICP: after a reservation the CPO MUST
    send one), in the caller's transaction."""
    await conn.execute(sa.update(SESSIONS).where(SESSIONS.c.session_id == row.session_id)
                       .values(state=state, ended_at=end, updated_at=now))
    if state == CANCELLED or not row.evse_id or not row.identification:
        return
    refs = await rt.directory.for_station(conn, row.station_id, row.connector_id)
    tz = messages.zone(refs[0].timezone if refs else None, rt.config.zone)
    start = row.started_at or row.created_at
    cdr = messages.charge_detail_record(row, start, max(end, start), None, None, [], tz)
    await outbox.enqueue(conn, outbox.CDR, row.session_id, cdr)


async def _meter_readings_wh(conn: AsyncConnection, transaction_id: int) -> list[float]:
    rows = (await conn.execute(
        sa.select(MeterValue.numeric_value, MeterValue.unit).where(
            MeterValue.transaction_id == transaction_id, MeterValue.measurand == ENERGY,
            MeterValue.phase.is_(None),
            sa.or_(MeterValue.source == "MeterValues",
                   # OCPP 2.0.1 sends its readings in TransactionEvents; the Begin and End
                   # ones are MeterValueStart / MeterValueEnd, not readings in between.
                   sa.and_(MeterValue.source == "TransactionEvent",
                           sa.func.coalesce(MeterValue.context, "").not_in(BEGIN_END))),
            MeterValue.numeric_value.is_not(None),
        ).order_by(MeterValue.timestamp).limit(MAX_METER_VALUES_IN_CDR))).all()
    return [value * (1000 if unit == "kWh" else 1) for value, unit in rows]

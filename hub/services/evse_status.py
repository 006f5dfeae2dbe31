"""OCPP 2.0.1 connector status, mapped onto the core's connectors.

A 2.0.1 station reports a ConnectorStatus (Available, Occupied, Reserved, Unavailable, Faulted)
per EVSE *and* connector; the core keeps one status per outlet in the 1.6 vocabulary, which is
what the Sites API, the OICP status push and the management API read. The mapping:

- the core ``connector_id`` is the EVSE id; the raw status of every (EVSE, connector) pair is
  kept in ``evse_connectors``;
- an EVSE's status is the most telling of its connectors' (Occupied > Reserved > Available >
  Unavailable > Faulted): one busy connector makes the EVSE busy, one usable connector makes it
  usable;
- Available, Reserved, Unavailable and Faulted are the same words in 1.6. Occupied is refined
  with the EVSE's running transaction, as 1.6 chargers report it themselves: its chargingState
  Charging / SuspendedEV / SuspendedEVSE as such, otherwise Preparing; Occupied after the
  transaction ended is Finishing (until the EV leaves and the connector is Available again).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.context import Hub
from hub.db.base import utcnow
from hub.db.models import Connector, Transaction
from hub.db.models201 import EvseConnector, Transaction201
from hub.db.upsert import upsert
from hub.events import StatusChanged
from hub.services.status import apply_status

PRECEDENCE = ("Occupied", "Reserved", "Available", "Unavailable", "Faulted")
CHARGING_STATE_STATUS = {
    "Charging": "Charging",
    "SuspendedEV": "SuspendedEV",
    "SuspendedEVSE": "SuspendedEVSE",
}


def evse_status(connector_statuses: list[str]) -> str | None:
    """The status of an EVSE from its connectors' (2.0.1 vocabulary)."""
    for status in PRECEDENCE:
        if status in connector_statuses:
            return status
    return connector_statuses[0] if connector_statuses else None


def core_status(evse: str | None, *, active: bool, charging_state: str | None,
                current: str | None, ended_now: bool = False) -> str | None:
    """The 1.6-vocabulary status of an EVSE, or None when nothing is known."""
    if evse is not None and evse != "Occupied":
        return evse
    if active:
        return CHARGING_STATE_STATUS.get(charging_state or "", "Preparing")
    if ended_now or (evse == "Occupied" and current == "Finishing"):
        return "Finishing"
    if evse == "Occupied":
        return "Preparing"
    return None


async def record_connector_status(
    hub: Hub, station_id: str, evse_id: int, connector_id: int, status: str,
    timestamp: datetime | None = None,
) -> StatusChanged:
    """A StatusNotification (or a Connector AvailabilityState event): store the pair's status
    and record the EVSE's core status, as 1.6 records every StatusNotification."""
    timestamp = timestamp or utcnow()

    async def work(conn: AsyncConnection) -> StatusChanged:
        await upsert(conn, EvseConnector.__table__, [{
            "station_id": station_id, "evse_id": evse_id, "connector_id": connector_id,
            "status": status, "status_timestamp": timestamp, "updated_at": utcnow(),
        }], key=["station_id", "evse_id", "connector_id"], newer_than="status_timestamp")
        derived, current = await _derive(conn, station_id, evse_id, ended_now=False)
        return await apply_status(hub, conn, station_id, evse_id, derived or status,
                                  timestamp=timestamp, previous=current)

    return await hub.committer.run(work)


async def derive_status(conn: AsyncConnection, station_id: str, evse_id: int,
                        ended_now: bool = False) -> str | None:
    """The core status the EVSE should show now, from its connectors and its transaction."""
    return (await _derive(conn, station_id, evse_id, ended_now))[0]


# A transaction that is known to run on the EVSE: (its chargingState,).
Running = tuple[str | None]


async def _derive(conn: AsyncConnection, station_id: str, evse_id: int, ended_now: bool,
                  running: Running | None = None) -> tuple[str | None, Any]:
    """(the status the EVSE should show, its connectors row: None when it has none).

    ``running``: the EVSE's running transaction, when the caller knows it (it may not be in
    the database yet: group commit writes its details with the batch)."""
    params = {"b_station": station_id, "b_evse": evse_id}
    # One statement for the three reads (a statement costs more than the rows it reads).
    rows = (await conn.execute(_STATUSES if running is None else _STATUSES_KNOWN_RUNNING,
                               params)).all()
    statuses = [status for kind, status in rows if kind == _EVSE]
    current = next(((status,) for kind, status in rows if kind == _CONNECTOR), None)
    if running is None:
        running = next(((state,) for kind, state in rows if kind == _RUN), None)
    return core_status(evse_status(statuses), active=running is not None,
                       charging_state=running[0] if running else None,
                       current=current[0] if current else None, ended_now=ended_now), current


async def refresh_status(hub: Hub, conn: AsyncConnection, station_id: str, evse_id: int,
                         timestamp: datetime, ended_now: bool = False,
                         running: Running | None = None) -> StatusChanged | None:
    """After a transaction change: record the EVSE's core status if it is now different."""
    derived, current = await _derive(conn, station_id, evse_id, ended_now, running)
    if derived is None or (current is not None and derived == current[0]):
        return None
    return await apply_status(hub, conn, station_id, evse_id, derived, timestamp=timestamp,
                              previous=current)


# Built once (SQLAlchemy reuses their compiled forms). The three reads as one statement of
# (kind, status) rows: the EVSE's connectors' statuses, its connectors row's status, its running
# transaction's chargingState (a row even when a value is NULL: that the row exists counts).
_EVSE, _CONNECTOR, _RUN = 0, 1, 2


def _kind(kind: int) -> Any:
    return sa.literal_column(str(kind)).label("kind")


_EVSE_CONNECTORS = sa.select(_kind(_EVSE), EvseConnector.status).where(
    EvseConnector.station_id == sa.bindparam("b_station"),
    EvseConnector.evse_id == sa.bindparam("b_evse"))
_CURRENT = sa.select(_kind(_CONNECTOR), Connector.status).where(
    Connector.station_id == sa.bindparam("b_station"),
    Connector.connector_id == sa.bindparam("b_evse"))
_RUNNING = (
    sa.select(Transaction201.charging_state)
    .join(Transaction, Transaction.id == Transaction201.transaction_id)
    .where(Transaction.station_id == sa.bindparam("b_station"),
           Transaction.connector_id == sa.bindparam("b_evse"), Transaction.status == "active")
    .order_by(Transaction.start_timestamp.desc()).limit(1)).subquery()
_STATUSES_KNOWN_RUNNING = sa.union_all(_EVSE_CONNECTORS, _CURRENT)
_STATUSES = sa.union_all(_EVSE_CONNECTORS, _CURRENT,
                         sa.select(_kind(_RUN), _RUNNING.c.charging_state))

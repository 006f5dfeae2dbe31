"""Connector status from StatusNotification (connector 0 = the station itself)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.context import Hub
from hub.db.base import utcnow
from hub.db.group_commit import emit
from hub.db.models import Connector
from hub.events import StatusChanged

_READ: Any = object()  # apply_status reads the previous status itself


async def record_status(
    hub: Hub,
    station_id: str,
    connector_id: int,
    status: str,
    error_code: str | None = None,
    info: str | None = None,
    timestamp: datetime | None = None,
    vendor_id: str | None = None,
    vendor_error_code: str | None = None,
) -> StatusChanged:
    async def work(conn: AsyncConnection) -> StatusChanged:
        return await apply_status(
            hub, conn, station_id, connector_id, status, error_code=error_code, info=info,
            timestamp=timestamp, vendor_id=vendor_id, vendor_error_code=vendor_error_code)

    return await hub.committer.run(work)


async def apply_status(
    hub: Hub,
    conn: AsyncConnection,
    station_id: str,
    connector_id: int,
    status: str,
    error_code: str | None = None,
    info: str | None = None,
    timestamp: datetime | None = None,
    vendor_id: str | None = None,
    vendor_error_code: str | None = None,
    previous: Any = _READ,
) -> StatusChanged:
    """Write a connector's status inside ``conn``'s transaction, a unit of work's, and emit
    the ``StatusChanged`` it returns (published after the unit's commit). ``previous``: the
    connector's (status,) row as the caller just read it, None when it has none."""
    values = {
        "status": status,
        "error_code": error_code,
        "info": info,
        "vendor_id": vendor_id,
        "vendor_error_code": vendor_error_code,
        "status_timestamp": timestamp or utcnow(),
        "updated_at": utcnow(),
    }
    key = {"b_station": station_id, "b_connector": connector_id}
    if previous is _READ:
        previous = (await conn.execute(_STATUS, key)).first()
    if previous is None:
        await conn.execute(_INSERT, {"station_id": station_id, "connector_id": connector_id,
                                     "availability": "Operative", **values})
    else:
        await conn.execute(_UPDATE, {**key, **values})
    event = StatusChanged(
        station_id=station_id, connector_id=connector_id, status=status,
        previous_status=previous[0] if previous else None, error_code=error_code,
        info=info, vendor_error_code=vendor_error_code, timestamp=values["status_timestamp"],
    )
    await emit(conn, event)
    return event


# Built once (SQLAlchemy reuses their compiled forms).
_KEY = (Connector.station_id == sa.bindparam("b_station"),
        Connector.connector_id == sa.bindparam("b_connector"))
_STATUS = sa.select(Connector.status).where(*_KEY)
_INSERT = sa.insert(Connector)
_UPDATE = sa.update(Connector).where(*_KEY)

"""Reservations: the hub picks the reservationId, records the request, then asks the station."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from ocpp.v16 import call
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.context import Hub
from hub.db.base import utcnow
from hub.db.models import Reservation
from hub.services.timestamps import format_timestamp


async def reserve_now(hub: Hub, station_id: str, connector_id: int, id_tag: str,
                      expiry_date: datetime, parent_id_tag: str | None = None,
                      timeout: float | None = None) -> tuple[int, str]:
    """Create the reservation and send ReserveNow; return (reservation id, station's answer)."""
    now = utcnow()

    async def work(conn: AsyncConnection) -> int:
        return (await conn.execute(sa.insert(Reservation).values(
            station_id=station_id, connector_id=connector_id, id_tag=id_tag,
            parent_id_tag=parent_id_tag, expiry_date=expiry_date, status="Requested",
            created_at=now, updated_at=now,
        ).returning(Reservation.id))).scalar_one()

    reservation_id = await hub.committer.run(work)
    response = await hub.commands.call(station_id, call.ReserveNow(
        connector_id=connector_id, expiry_date=format_timestamp(expiry_date), id_tag=id_tag,
        reservation_id=reservation_id, parent_id_tag=parent_id_tag), timeout=timeout)
    return reservation_id, response.status

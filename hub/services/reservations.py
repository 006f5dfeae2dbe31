"""Reservations: the hub picks the reservationId, records the request, then asks the station."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from ocpp.v16 import call
from ocpp.v201 import call as call201
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.context import Hub
from hub.db.base import utcnow
from hub.db.models import Reservation
from hub.services.id_tokens import guess_id_token_type
from hub.services.timestamps import format_timestamp


async def reserve_now(hub: Hub, station_id: str, connector_id: int, id_tag: str,
                      expiry_date: datetime, parent_id_tag: str | None = None,
                      timeout: float | None = None,
                      id_token_type: str | None = None) -> tuple[int, str]:
    """Create the reservation and send ReserveNow in the station's OCPP version; return
    (reservation id, station's answer). ``id_token_type``: the 2.0.1 idToken type (guessed
    from the tag when not given)."""
    now = utcnow()

    async def work(conn: AsyncConnection) -> int:
        return (await conn.execute(sa.insert(Reservation).values(
            station_id=station_id, connector_id=connector_id, id_tag=id_tag,
            parent_id_tag=parent_id_tag, expiry_date=expiry_date, status="Requested",
            created_at=now, updated_at=now,
        ).returning(Reservation.id))).scalar_one()

    reservation_id = await hub.committer.run(work)
    if hub.commands.ocpp_version(station_id) == "2.0.1":
        # 2.0.1: the EVSE is the core connector (0 = any EVSE), the idTag an idToken.
        request: object = call201.ReserveNow(
            id=reservation_id, expiry_date_time=format_timestamp(expiry_date),
            id_token={"id_token": id_tag, "type": id_token_type or guess_id_token_type(id_tag)},
            evse_id=connector_id or None,
            group_id_token={"id_token": parent_id_tag, "type": "Central"}
            if parent_id_tag else None)
    else:
        request = call.ReserveNow(
            connector_id=connector_id, expiry_date=format_timestamp(expiry_date), id_tag=id_tag,
            reservation_id=reservation_id, parent_id_tag=parent_id_tag)
    response = await hub.commands.call(station_id, request, timeout=timeout)
    return reservation_id, response.status

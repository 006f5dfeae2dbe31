"""OCPP 2.0.1 reports a station sends on its own: smart-charging information (stored as sent),
reservation status updates and device events (NotifyEvent)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.context import Hub
from hub.db.base import utcnow
from hub.db.models import Reservation, StationNotification
from hub.db.models201 import ChargingReport

# ReservationStatusUpdate: Expired = the reservation timed out; Removed = the station dropped
# it (e.g. its EVSE became unavailable). Both end the reservation.
RESERVATION_UPDATE_STATUS = {"Expired": "Expired", "Removed": "Removed"}


async def record_charging_report(hub: Hub, station_id: str, kind: str, payload: dict[str, Any],
                                 evse_id: int | None = None,
                                 request_id: int | None = None) -> None:
    """NotifyChargingLimit, ClearedChargingLimit, NotifyEVChargingNeeds,
    NotifyEVChargingSchedule, ReportChargingProfiles: the camelCase payload as received."""

    async def work(conn: AsyncConnection) -> None:
        await conn.execute(sa.insert(ChargingReport).values(
            station_id=station_id, kind=kind, evse_id=evse_id, request_id=request_id,
            payload=payload, received_at=utcnow()))

    await hub.committer.run(work)


async def reservation_status_update(hub: Hub, station_id: str, reservation_id: int,
                                    update_status: str) -> bool:
    """Return False when the hub does not know the reservation (it is still acknowledged)."""
    status = RESERVATION_UPDATE_STATUS.get(update_status, update_status)

    async def work(conn: AsyncConnection) -> bool:
        updated = await conn.execute(sa.update(Reservation).where(
            Reservation.id == reservation_id, Reservation.station_id == station_id,
        ).values(status=status, updated_at=utcnow()))
        return updated.rowcount > 0

    return await hub.committer.run(work)


async def record_events(hub: Hub, station_id: str,
                        events: list[tuple[dict[str, Any], datetime]]) -> None:
    """NotifyEvent eventData items (camelCase, with their parsed timestamps) as station
    notifications of kind ``Event``: status = trigger, request_id = eventId, detail = the item."""
    rows = [{
        "station_id": station_id, "kind": "Event",
        "status": str(item.get("trigger", ""))[:50], "request_id": item.get("eventId"),
        "detail": json.dumps(item, separators=(",", ":")), "timestamp": timestamp,
    } for item, timestamp in events]

    async def work(conn: AsyncConnection) -> None:
        await conn.execute(sa.insert(StationNotification), rows)

    if rows:
        await hub.committer.run(work)

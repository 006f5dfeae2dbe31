"""What the hub remembers after a 2.0.1 station answered a command: device model variables,
local list version, reservations, availability (the 1.6 effects are in command_effects)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.context import Hub
from hub.db.base import utcnow
from hub.db.models import Connector, Reservation, Station
from hub.db.upsert import upsert
from hub.services.device_model import DeviceModelEffects, snake

VERSION = "2.0.1"


def register_command_effects201(hub: Hub) -> None:
    effects = CommandEffects201(hub)
    variables = DeviceModelEffects(hub)
    for action, effect in (
        ("GetVariables", variables.variables_read),
        ("SetVariables", variables.variables_set),
        ("GetLocalListVersion", effects.local_list_version_read),
        ("SendLocalList", effects.local_list_sent),
        ("ReserveNow", effects.reservation_answered),
        ("CancelReservation", effects.reservation_cancelled),
        ("ChangeAvailability", effects.availability_changed),
    ):
        hub.commands.add_effect(action, effect, version=VERSION)


class CommandEffects201:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    async def _set_list_version(self, station_id: str, version: int) -> None:
        async def work(conn: AsyncConnection) -> None:
            await conn.execute(sa.update(Station).where(Station.id == station_id).values(
                local_list_version=version))

        await self.hub.committer.run(work)

    async def local_list_version_read(self, station_id: str, request: Any, response: Any) -> None:
        await self._set_list_version(station_id, response.version_number)

    async def local_list_sent(self, station_id: str, request: Any, response: Any) -> None:
        if response.status == "Accepted":
            await self._set_list_version(station_id, request.version_number)

    async def reservation_answered(self, station_id: str, request: Any, response: Any) -> None:
        # 2.0.1 ReserveNow statuses: Accepted, Faulted, Occupied, Rejected, Unavailable.
        async def work(conn: AsyncConnection) -> None:
            await conn.execute(sa.update(Reservation).where(
                Reservation.id == request.id, Reservation.station_id == station_id
            ).values(status=response.status, updated_at=utcnow()))

        await self.hub.committer.run(work)

    async def reservation_cancelled(self, station_id: str, request: Any, response: Any) -> None:
        if response.status != "Accepted":
            return

        async def work(conn: AsyncConnection) -> None:
            await conn.execute(sa.update(Reservation).where(
                Reservation.id == request.reservation_id, Reservation.station_id == station_id
            ).values(status="Cancelled", updated_at=utcnow()))

        await self.hub.committer.run(work)

    async def availability_changed(self, station_id: str, request: Any, response: Any) -> None:
        """No EVSE = the whole station (core connector 0 and every EVSE); an EVSE (or one of
        its connectors) = that EVSE's core connector."""
        if response.status not in ("Accepted", "Scheduled"):
            return
        evse = snake(request.evse) if request.evse else None
        connector_id = evse["id"] if evse else 0
        availability = request.operational_status

        async def work(conn: AsyncConnection) -> None:
            if connector_id == 0:
                await conn.execute(sa.update(Connector).where(
                    Connector.station_id == station_id).values(
                    availability=availability, updated_at=utcnow()))
            await upsert(conn, Connector.__table__, [{
                "station_id": station_id, "connector_id": connector_id,
                "availability": availability, "updated_at": utcnow()}],
                key=["station_id", "connector_id"], update=["availability", "updated_at"])

        await self.hub.committer.run(work)

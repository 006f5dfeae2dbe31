"""What the hub remembers after a station answered a command: configuration read or changed,
local list version, reservations, availability. Registered on ``hub.commands`` at start-up."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.context import Hub
from hub.db.base import utcnow
from hub.db.models import Connector, Reservation, Station, StationConfigurationKey
from hub.db.upsert import upsert


def register_command_effects(hub: Hub) -> None:
    """The OCPP 1.6 effects (2.0.1 has its own payloads: hub.services.command_effects201)."""
    effects = CommandEffects(hub)
    for action, effect in (
        ("GetConfiguration", effects.configuration_read),
        ("ChangeConfiguration", effects.configuration_changed),
        ("GetLocalListVersion", effects.local_list_version_read),
        ("SendLocalList", effects.local_list_sent),
        ("ReserveNow", effects.reservation_answered),
        ("CancelReservation", effects.reservation_cancelled),
        ("ChangeAvailability", effects.availability_changed),
    ):
        hub.commands.add_effect(action, effect, version="1.6")


class CommandEffects:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    async def _write(self, work: Any) -> None:
        await self.hub.committer.run(work)

    async def configuration_read(self, station_id: str, request: Any, response: Any) -> None:
        keys = response.configuration_key or []
        rows = [{"station_id": station_id, "key": k["key"], "value": k.get("value"),
                 "readonly": k.get("readonly"), "updated_at": utcnow()} for k in keys]

        async def work(conn: AsyncConnection) -> None:
            await upsert(conn, StationConfigurationKey.__table__, rows,
                         key=["station_id", "key"])

        if rows:
            await self._write(work)

    async def configuration_changed(self, station_id: str, request: Any, response: Any) -> None:
        if response.status not in ("Accepted", "RebootRequired"):
            return

        async def work(conn: AsyncConnection) -> None:
            await upsert(conn, StationConfigurationKey.__table__, [{
                "station_id": station_id, "key": request.key, "value": request.value,
                "readonly": False, "updated_at": utcnow()}], key=["station_id", "key"],
                update=["value", "updated_at"])

        await self._write(work)

    async def local_list_version_read(self, station_id: str, request: Any, response: Any) -> None:
        await set_local_list_version(self.hub, station_id, response.list_version)

    async def local_list_sent(self, station_id: str, request: Any, response: Any) -> None:
        if response.status == "Accepted":
            await set_local_list_version(self.hub, station_id, request.list_version)

    async def reservation_answered(self, station_id: str, request: Any, response: Any) -> None:
        await set_reservation_status(self.hub, station_id, request.reservation_id,
                                     response.status)

    async def reservation_cancelled(self, station_id: str, request: Any, response: Any) -> None:
        if response.status == "Accepted":
            await set_reservation_status(self.hub, station_id, request.reservation_id,
                                         "Cancelled")

    async def availability_changed(self, station_id: str, request: Any, response: Any) -> None:
        if response.status in ("Accepted", "Scheduled"):
            await set_availability(self.hub, station_id, request.connector_id, request.type)


# Writes shared by the 1.6 and 2.0.1 effects (the versions differ in field names only).

async def set_local_list_version(hub: Hub, station_id: str, version: int) -> None:
    async def work(conn: AsyncConnection) -> None:
        await conn.execute(sa.update(Station).where(Station.id == station_id).values(
            local_list_version=version))

    await hub.committer.run(work)


async def set_reservation_status(hub: Hub, station_id: str, reservation_id: int,
                                 status: str) -> None:
    async def work(conn: AsyncConnection) -> None:
        await conn.execute(sa.update(Reservation).where(
            Reservation.id == reservation_id, Reservation.station_id == station_id
        ).values(status=status, updated_at=utcnow()))

    await hub.committer.run(work)


async def set_availability(hub: Hub, station_id: str, connector_id: int,
                           availability: str) -> None:
    """Connector 0 = the whole station: every connector follows."""
    rows = [{"station_id": station_id, "connector_id": connector_id,
             "availability": availability, "updated_at": utcnow()}]

    async def work(conn: AsyncConnection) -> None:
        if connector_id == 0:
            await conn.execute(sa.update(Connector).where(
                Connector.station_id == station_id).values(
                availability=availability, updated_at=utcnow()))
        await upsert(conn, Connector.__table__, rows, key=["station_id", "connector_id"],
                     update=["availability", "updated_at"])

    await hub.committer.run(work)

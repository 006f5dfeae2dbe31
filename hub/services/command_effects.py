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

    async def _set_list_version(self, station_id: str, version: int) -> None:
        async def work(conn: AsyncConnection) -> None:
            await conn.execute(sa.update(Station).where(Station.id == station_id).values(
                local_list_version=version))

        await self._write(work)

    async def local_list_version_read(self, station_id: str, request: Any, response: Any) -> None:
        await self._set_list_version(station_id, response.list_version)

    async def local_list_sent(self, station_id: str, request: Any, response: Any) -> None:
        if response.status == "Accepted":
            await self._set_list_version(station_id, request.list_version)

    async def reservation_answered(self, station_id: str, request: Any, response: Any) -> None:
        async def work(conn: AsyncConnection) -> None:
            await conn.execute(sa.update(Reservation).where(
                Reservation.id == request.reservation_id, Reservation.station_id == station_id
            ).values(status=response.status, updated_at=utcnow()))

        await self._write(work)

    async def reservation_cancelled(self, station_id: str, request: Any, response: Any) -> None:
        if response.status != "Accepted":
            return

        async def work(conn: AsyncConnection) -> None:
            await conn.execute(sa.update(Reservation).where(
                Reservation.id == request.reservation_id, Reservation.station_id == station_id
            ).values(status="Cancelled", updated_at=utcnow()))

        await self._write(work)

    async def availability_changed(self, station_id: str, request: Any, response: Any) -> None:
        if response.status not in ("Accepted", "Scheduled"):
            return
        rows = [{"station_id": station_id, "connector_id": request.connector_id,
                 "availability": request.type, "updated_at": utcnow()}]

        async def work(conn: AsyncConnection) -> None:
            # Connector 0 = the whole station: every connector follows.
            if request.connector_id == 0:
                await conn.execute(sa.update(Connector).where(
                    Connector.station_id == station_id).values(
                    availability=request.type, updated_at=utcnow()))
            await upsert(conn, Connector.__table__, rows, key=["station_id", "connector_id"],
                         update=["availability", "updated_at"])

        await self._write(work)

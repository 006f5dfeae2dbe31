"""The Sites model as the hub's EVSE data provider (``hub.evse_provider``).

A port with an ``evse_id`` on a charger linked to a station is a published EVSE:
``port_number`` is the OCPP connector id of the charger's station. Registered at the feature's
``setup(app)``; publishers (OICP) ask the registry and never import this package.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.models import Station
from hub.feature_api import EvseLocation, EvseSite
from sites_api.models import CONNECTOR_TYPES, Charger, Port, Site


async def _has_ports(conn: AsyncConnection) -> bool:
    def has_ports(sync_conn: Any) -> bool:
        return sa.inspect(sync_conn).has_table(Port.__tablename__)

    return await conn.run_sync(has_ports)


class SitesEvseProvider:
    def __init__(self) -> None:
        # Whether the ports table exists is asked once (as OICP did before this hook).
        self._ports_checked: bool | None = None

    async def _ports(self, conn: AsyncConnection) -> bool:
        if self._ports_checked is None:
            self._ports_checked = await _has_ports(conn)
        return self._ports_checked

    async def locations(self, conn: AsyncConnection, *, station_id: str | None = None,
                        connector_id: int | None = None,
                        evse_id: str | None = None) -> list[EvseLocation]:
        if not await self._ports(conn):
            return []
        query = (sa.select(Port.evse_id, Charger.station_id, Port.port_number, Site.timezone)
                 .join(Charger, Charger.id == Port.charger_id)
                 .join(Site, Site.id == Charger.site_id)
                 .where(Port.evse_id.is_not(None), Charger.station_id.is_not(None)))
        if station_id is not None:
            query = query.where(Charger.station_id == station_id)
        if connector_id:
            query = query.where(Port.port_number == connector_id)
        if evse_id is not None:
            query = query.where(sa.func.upper(Port.evse_id) == evse_id.upper())
        rows = (await conn.execute(query)).all()
        return [EvseLocation(r[0], r[1], r[2], r[3]) for r in rows]

    async def sites(self, conn: AsyncConnection,
                    evse_ids: list[str] | None = None) -> list[EvseSite]:
        if not await _has_ports(conn):
            return []
        port, charger, site = Port, Charger, Site
        query = (sa.select(port.evse_id, charger.station_id, port.port_number, charger.name,
                           site.name.label("site_name"), site.country, site.city, site.street,
                           site.postal_code, site.house_number, site.region, site.timezone,
                           sa.func.coalesce(charger.latitude, site.latitude).label("latitude"),
                           sa.func.coalesce(charger.longitude, site.longitude).label(
                               "longitude"),
                           port.connector_type, port.power_type, port.maximum_power_kw,
                           sa.func.coalesce(charger.manufacturer, Station.vendor).label(
                               "vendor"))
                 .join(charger, charger.id == port.charger_id)
                 .join(site, site.id == charger.site_id)
                 .outerjoin(Station, Station.id == charger.station_id)
                 .where(port.evse_id.is_not(None), charger.station_id.is_not(None))
                 .order_by(port.evse_id))
        if evse_ids:
            query = query.where(port.evse_id.in_(evse_ids))
        return [EvseSite(
            evse_id=row.evse_id, station_id=row.station_id, connector_id=row.port_number,
            station_name=row.name or row.site_name or row.station_id,
            country=row.country, city=row.city, street=row.street,
            postal_code=row.postal_code, house_number=row.house_number,
            latitude=row.latitude, longitude=row.longitude,
            plug=CONNECTOR_TYPES.get(row.connector_type),
            max_power_kw=row.maximum_power_kw, power_type=row.power_type, region=row.region,
            timezone=row.timezone, manufacturer=row.vendor)
            for row in (await conn.execute(query)).all()]

"""Which EVSE is which: OICP EvseIDs <-> OCPP (station, connector), and their OICP status.

EvseIDs come from the hub's EVSE data providers (``hub.evse_provider``: the Sites API registers
its ports, ``port_number`` being the OCPP connector id of the port's charger's station) and, for
deployments without one, from ``[[oicp.evses]]`` in the configuration. A connector without an
EvseID is not published: nothing about it is pushed.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.models import Connector, Station
from hub.feature_api import EvseLocation, EvseProviders, EvseSite
from oicp.ids import is_evse_id

log = logging.getLogger(__name__)

# EvseID -> (station, connector, time zone): the core's EvseLocation, as OICP names it.
EvseRef = EvseLocation


# OCPP 1.6 ChargePointStatus -> OICP EvseStatus.
_STATUS = {
    "Available": "Available",
    "Preparing": "Occupied",
    "Charging": "Occupied",
    "SuspendedEV": "Occupied",
    "SuspendedEVSE": "Occupied",
    "Finishing": "Occupied",
    "Reserved": "Reserved",
    "Unavailable": "OutOfService",
    "Faulted": "OutOfService",
    # OCPP 2.0.1 ConnectorStatus
    "Occupied": "Occupied",
}
BUSY = frozenset({"Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing",
                  "Occupied"})
OUT_OF_SERVICE = frozenset({"Unavailable", "Faulted"})


def oicp_status(connected: bool, station_status: str | None, connector_status: str | None) -> str:
    """The EvseStatus Hubject should show: Unknown while the station is offline, OutOfService
    while the whole station (connector 0) is unavailable or faulted, else the connector's."""
    if not connected:
        return "Unknown"
    if station_status in OUT_OF_SERVICE:
        return "OutOfService"
    return _STATUS.get(connector_status or "", "Unknown")


class EvseDirectory:
    """Looks EVSEs up inside whatever transaction the caller is in."""

    def __init__(self, configured: list[dict[str, Any]] | None = None,
                 providers: EvseProviders | None = None) -> None:
        self._static: list[EvseRef] = []
        for entry in configured or ():
            evse_id = str(entry["evse_id"])
            if not is_evse_id(evse_id):
                raise ValueError(f"oicp.evses: {evse_id!r} is not an OICP EvseID")
            self._static.append(EvseRef(evse_id, str(entry["station_id"]),
                                        int(entry["connector_id"]), entry.get("timezone")))
        self._providers = providers or EvseProviders()

    async def _provided(self, conn: AsyncConnection, **where: Any) -> list[EvseRef]:
        if not self._providers:
            return []
        return [ref for ref in await self._providers.locations(conn, **where)
                if is_evse_id(ref.evse_id)]

    async def for_station(self, conn: AsyncConnection, station_id: str,
                          connector_id: int | None = None) -> list[EvseRef]:
        """The published EVSEs of a station (of one connector when given; 0 = all)."""
        refs = [r for r in self._static if r.station_id == station_id]
        refs += await self._provided(conn, station_id=station_id, connector_id=connector_id)
        if connector_id:
            refs = [r for r in refs if r.connector_id == connector_id]
        return _unique(refs)

    async def by_evse_id(self, conn: AsyncConnection, evse_id: str) -> EvseRef | None:
        for ref in self._static:
            if ref.evse_id.upper() == evse_id.upper():
                return ref
        found = await self._provided(conn, evse_id=evse_id)
        return found[0] if found else None

    async def all(self, conn: AsyncConnection) -> list[EvseRef]:
        return _unique(self._static + await self._provided(conn))

    async def sites(self, conn: AsyncConnection,
                    evse_ids: list[str] | None = None) -> list[EvseSite]:
        """The master data of the provided EVSEs (see ``oicp.evse_data``)."""
        if not self._providers:
            return []
        return await self._providers.sites(conn, evse_ids)

    async def statuses(self, conn: AsyncConnection, refs: list[EvseRef]) -> dict[str, str]:
        """EvseID -> current OICP status from what the hub knows (connectors, stations)."""
        if not refs:
            return {}
        station_ids = {r.station_id for r in refs}
        connected = dict((await conn.execute(sa.select(Station.id, Station.connected).where(
            Station.id.in_(station_ids)))).all())
        states = {(s, c): st for s, c, st in (await conn.execute(
            sa.select(Connector.station_id, Connector.connector_id, Connector.status).where(
                Connector.station_id.in_(station_ids)))).all()}
        return {r.evse_id: oicp_status(bool(connected.get(r.station_id)),
                                       states.get((r.station_id, 0)),
                                       states.get((r.station_id, r.connector_id)))
                for r in refs}


def _unique(refs: list[EvseRef]) -> list[EvseRef]:
    seen: dict[str, EvseRef] = {}
    for ref in refs:
        seen.setdefault(ref.evse_id, ref)
    return list(seen.values())

"""Where published EVSEs come from: a registry of EVSE data providers on the app.

A feature that owns EVSE master data (the Sites API: sites, chargers, ports) registers a
provider at its ``setup(app)``; a feature that publishes EVSEs (OICP) asks the registry. Neither
imports the other, and with no provider registered the registry simply knows no EVSE.

An EVSE here is one published outlet: an EvseID (the roaming identifier) on an OCPP station's
connector (``connector_id`` = the OCPP 1.6 connectorId; the Sites API's ``port_number``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True)
class EvseLocation:
    """Which station connector an EvseID is, and the time zone of its site."""

    evse_id: str
    station_id: str
    connector_id: int
    timezone: str | None = None


@dataclass(frozen=True)
class EvseSite:
    """The master data one published EVSE record is made from."""

    evse_id: str
    station_id: str
    connector_id: int
    station_name: str
    country: str | None  # ISO 3166-1 alpha-3
    city: str | None
    street: str | None
    postal_code: str | None
    house_number: str | None
    latitude: float | None
    longitude: float | None
    plug: str | None  # an OICP PlugType value
    max_power_kw: float | None
    power_type: str | None = None  # AC_1_PHASE | AC_3_PHASE | DC
    region: str | None = None
    timezone: str | None = None
    manufacturer: str | None = None


class EvseProvider(Protocol):
    """Answers inside the caller's transaction (``conn``); unfiltered EvseIDs (the caller
    checks their syntax); only EVSEs that have an EvseID and a station."""

    async def locations(self, conn: AsyncConnection, *, station_id: str | None = None,
                        connector_id: int | None = None,
                        evse_id: str | None = None) -> list[EvseLocation]:
        """Published EVSEs, of one station (and connector) or one EvseID (case-insensitive)."""
        ...

    async def sites(self, conn: AsyncConnection,
                    evse_ids: list[str] | None = None) -> list[EvseSite]:
        """The master data of every published EVSE (or of ``evse_ids``), by EvseID."""
        ...


class EvseProviders:
    """The registered providers, asked in registration order."""

    def __init__(self) -> None:
        self._providers: list[EvseProvider] = []

    def register(self, provider: EvseProvider) -> None:
        self._providers.append(provider)

    def __bool__(self) -> bool:
        return bool(self._providers)

    async def locations(self, conn: AsyncConnection, **where: Any) -> list[EvseLocation]:
        found: list[EvseLocation] = []
        for provider in self._providers:
            found += await provider.locations(conn, **where)
        return found

    async def sites(self, conn: AsyncConnection,
                    evse_ids: list[str] | None = None) -> list[EvseSite]:
        found: list[EvseSite] = []
        for provider in self._providers:
            found += await provider.sites(conn, evse_ids)
        return found


EVSE_PROVIDERS = web.AppKey("evse_providers", EvseProviders)


def evse_providers(app: web.Application) -> EvseProviders:
    """The app's registry (created by the app factory; here too for apps built without it)."""
    if EVSE_PROVIDERS not in app:
        app[EVSE_PROVIDERS] = EvseProviders()
    return app[EVSE_PROVIDERS]

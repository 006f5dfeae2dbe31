"""The Sites model: organisations, sites, their local controller and fuse tree, chargers, ports.

This module needs only ``hub.db.base`` and SQLAlchemy. Other features do not import it: the
published EVSEs reach them through the core's EVSE provider registry (``hub.evse_provider``,
filled by ``sites_api.evse_provider``):

- a **Site** is a location with a full postal address (``street``, ``house_number``,
  ``postal_code``, ``city``, ``region``, ``country`` as ISO 3166-1 alpha-3, as OICP wants it),
  ``latitude``/``longitude`` (WGS84 decimal degrees) and an IANA ``timezone``;
- a **Charger** sits on one site and is linked to at most one OCPP station (``station_id`` =
  the OCPP identity, ``hub.db.models.Station.id``). ``manufacturer``, ``model``,
  ``serial_number`` and ``firmware_version`` here are *overrides*: when None the read API takes
  them from the station's BootNotification. ``latitude``/``longitude`` default to the site's;
- a **Port** is one outlet of a charger; ``port_number`` *is* the OCPP connector id of the
  charger's station (``hub.db.models.Connector.connector_id``). It carries ``evse_id`` (OICP
  EvseID, validated against ``EVSE_ID_PATTERN``, unique), ``connector_type`` (one of
  ``CONNECTOR_TYPES``; ``oicp_plug(connector_type)`` gives the OICP ``Plugs`` value),
  ``maximum_power_kw`` and optionally ``power_type`` (OICP ``PowerType``: AC_1_PHASE,
  AC_3_PHASE, DC);
- a **FuseNode** is one node of the site's electrical tree (ChargePilot's fuse tree); a node may
  list **FuseNodeConnector** entries pointing at OCPP (station, connector) pairs;
- **RfidCard** and **Vehicle** give names to an OCPP id tag, so that a live session can show the
  card, its customer and vehicle.

Every site-owned row cascades on the site's deletion. ``Site.version`` grows on every write to
the site or anything it owns; the write API uses it as the ETag.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Base, UTCDateTime, utcnow

#: OICP 2.3 EvseIDType (ISO 15118 / DIN SPEC 91286 forms).
EVSE_ID_PATTERN = re.compile(
    r"^(([A-Za-z]{2}\*?[A-Za-z0-9]{3}\*?E[A-Za-z0-9\*]{1,30})|"
    r"(\+?[0-9]{1,3}\*[0-9]{3}\*[0-9\*]{1,32}))$"
)

#: Charger types, as Flipturn names them.
CHARGER_TYPES = ("DCFC", "Level 2")

#: Site statuses (Flatpeak's ``status``).
SITE_STATUSES = ("ACTIVE", "INACTIVE")

#: Port connector types -> the OICP 2.3 ``Plugs`` enum value of each.
CONNECTOR_TYPES: dict[str, str] = {
    "CCS1": "CCS Combo 1 Plug (Cable Attached)",
    "CCS2": "CCS Combo 2 Plug (Cable Attached)",
    "CHADEMO": "CHAdeMO",
    "J1772": "Type 1 Connector (Cable Attached)",
    "NACS": "Tesla Connector",
    "TYPE2": "Type 2 Outlet",
    "TYPE2_CABLE": "Type 2 Connector (Cable Attached)",
    "TYPE3": "Type 3 Outlet",
    "SCHUKO": "Type F Schuko",
    "NEMA_5_20": "NEMA 5-20",
    "IEC_60309_1P": "IEC 60309 Single Phase",
    "IEC_60309_3P": "IEC 60309 Three Phase",
}

#: The site phases a fuse-node connector may draw on (``FuseNodeConnector.phases``).
PHASE_NAMES = ("L1", "L2", "L3")

#: OICP ChargingFacility PowerType values.
POWER_TYPES = ("AC_1_PHASE", "AC_3_PHASE", "DC")


def oicp_plug(connector_type: str) -> str:
    """The OICP ``Plugs`` value for a port's ``connector_type``."""
    return CONNECTOR_TYPES[connector_type]


class Organisation(Base):
    """A CPO customer organisation; API tokens carry its ``key`` (``token create --org KEY``)."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Site(Base):
    __tablename__ = "sites"
    __table_args__ = (
        sa.Index("ix_sites_organisation_id", "organisation_id", "id"),
        sa.Index("ix_sites_reference_id", "reference_id"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    organisation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("organisations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(200))
    # A reference meaningful to the API user (Flatpeak's reference_id), e.g. their own site id.
    reference_id: Mapped[str | None] = mapped_column(sa.String(100))
    status: Mapped[str] = mapped_column(sa.String(16), default="ACTIVE")
    # IANA name, validated against the zoneinfo database on write.
    timezone: Mapped[str] = mapped_column(sa.String(64), default="UTC")
    # Free-text one-line address; when None the API composes one from the parts below.
    address: Mapped[str | None] = mapped_column(sa.String(300))
    street: Mapped[str | None] = mapped_column(sa.String(100))
    house_number: Mapped[str | None] = mapped_column(sa.String(10))
    postal_code: Mapped[str | None] = mapped_column(sa.String(10))
    city: Mapped[str | None] = mapped_column(sa.String(50))
    region: Mapped[str | None] = mapped_column(sa.String(50))
    # ISO 3166-1 alpha-3 (OICP 2.3 CountryCodeType), e.g. DEU, USA.
    country: Mapped[str | None] = mapped_column(sa.String(3))
    latitude: Mapped[float | None] = mapped_column(sa.Float)
    longitude: Mapped[float | None] = mapped_column(sa.Float)
    version: Mapped[int] = mapped_column(sa.Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LocalController(Base):
    """The site's on-premises load manager (ChargePilot's local_controller); one per site."""

    __tablename__ = "local_controllers"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id", ondelete="CASCADE"),
                                         unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    serial_no: Mapped[str | None] = mapped_column(sa.String(100))
    device_id: Mapped[str | None] = mapped_column(sa.String(100))


class FuseNode(Base):
    """One node of the site's fuse tree (a forest: several roots are allowed).

    ``depth`` is not stored: it follows from the parent chain. Siblings are ordered by
    ``order`` then id.
    """

    __tablename__ = "fuse_nodes"
    __table_args__ = (sa.Index("ix_fuse_nodes_site_id", "site_id"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("fuse_nodes.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(sa.String(40))
    name: Mapped[str | None] = mapped_column(sa.String(200))
    limit: Mapped[float | None] = mapped_column(sa.Float)
    inbound_limit: Mapped[float | None] = mapped_column(sa.Float)
    outbound_limit: Mapped[float | None] = mapped_column(sa.Float)
    fallback: Mapped[float | None] = mapped_column(sa.Float)
    pending_fallback_value: Mapped[float | None] = mapped_column(sa.Float)
    fallback_status: Mapped[str | None] = mapped_column(sa.String(40))
    order: Mapped[int] = mapped_column(sa.Integer, default=0)
    fuse_id: Mapped[str | None] = mapped_column(sa.String(64))
    firmware_version: Mapped[str | None] = mapped_column(sa.String(50))
    additional_comments: Mapped[str | None] = mapped_column(sa.Text)
    # ChargePilot's meter object (is_producer, producer_name, ...), validated on write.
    meter: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)


class FuseNodeConnector(Base):
    """A charging connector attached to a fuse node, referencing an OCPP station connector."""

    __tablename__ = "fuse_node_connectors"
    __table_args__ = (sa.Index("ix_fuse_node_connectors_site_id", "site_id"),
                      sa.Index("ix_fuse_node_connectors_node_id", "node_id"))

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    node_id: Mapped[int] = mapped_column(sa.ForeignKey("fuse_nodes.id", ondelete="CASCADE"))
    # Denormalised so that a page of sites loads its connectors in one query.
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id", ondelete="CASCADE"))
    name: Mapped[str | None] = mapped_column(sa.String(200))
    station_id: Mapped[str] = mapped_column(sa.ForeignKey("stations.id", ondelete="CASCADE"))
    connector_id: Mapped[int] = mapped_column(sa.Integer)
    priority: Mapped[int | None] = mapped_column(sa.Integer)
    # Supported (dis)charging current levels in A.
    charging_capability: Mapped[list[float]] = mapped_column(sa.JSON, default=list)
    discharge_capability: Mapped[list[float]] = mapped_column(sa.JSON, default=list)
    # The site phases the outlet draws on, e.g. ["L2"] for a single-phase outlet wired to L2;
    # None: all three (what the load planner assumes when the operator has not said).
    phases: Mapped[list[str] | None] = mapped_column(sa.JSON)


class Charger(Base):
    __tablename__ = "chargers"
    __table_args__ = (sa.Index("ix_chargers_site_id", "site_id"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(200))
    # The OCPP identity (hub.db.models.Station.id); one charger per station.
    station_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("stations.id", ondelete="SET NULL"), unique=True)
    # Overrides of what the station's BootNotification reports (None = use the station's).
    manufacturer: Mapped[str | None] = mapped_column(sa.String(50))
    model: Mapped[str | None] = mapped_column(sa.String(50))
    serial_number: Mapped[str | None] = mapped_column(sa.String(50))
    firmware_version: Mapped[str | None] = mapped_column(sa.String(50))
    # None = the site's coordinates.
    latitude: Mapped[float | None] = mapped_column(sa.Float)
    longitude: Mapped[float | None] = mapped_column(sa.Float)
    external_id: Mapped[str | None] = mapped_column(sa.String(100))
    type: Mapped[str] = mapped_column(sa.String(16))  # one of CHARGER_TYPES
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Port(Base):
    __tablename__ = "ports"
    __table_args__ = (
        sa.UniqueConstraint("charger_id", "port_number", name="uq_ports_charger_port_number"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    charger_id: Mapped[int] = mapped_column(sa.ForeignKey("chargers.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(200))
    # The OCPP connector id on the charger's station (1..n).
    port_number: Mapped[int] = mapped_column(sa.Integer)
    maximum_power_kw: Mapped[float | None] = mapped_column(sa.Float)
    connector_type: Mapped[str] = mapped_column(sa.String(16))  # a key of CONNECTOR_TYPES
    power_type: Mapped[str | None] = mapped_column(sa.String(12))  # one of POWER_TYPES
    # OICP EvseID (EVSE_ID_PATTERN); unique across the hub.
    evse_id: Mapped[str | None] = mapped_column(sa.String(48), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Vehicle(Base):
    __tablename__ = "vehicles"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    organisation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("organisations.id", ondelete="CASCADE"))
    make: Mapped[str | None] = mapped_column(sa.String(50))
    model: Mapped[str | None] = mapped_column(sa.String(50))
    name: Mapped[str] = mapped_column(sa.String(100))
    vin: Mapped[str | None] = mapped_column(sa.String(17))


class RfidCard(Base):
    """Names an OCPP id tag: the card, its customer and the vehicle it usually charges."""

    __tablename__ = "rfid_cards"
    # Unique per organisation: two organisations may each name the same id tag, and neither
    # learns that the other did.
    __table_args__ = (sa.UniqueConstraint("organisation_id", "id_tag",
                                          name="uq_rfid_cards_organisation_id_id_tag"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    organisation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("organisations.id", ondelete="CASCADE"))
    id_tag: Mapped[str] = mapped_column(sa.String(36))
    name: Mapped[str | None] = mapped_column(sa.String(100))
    customer_name: Mapped[str | None] = mapped_column(sa.String(200))
    vehicle_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("vehicles.id", ondelete="SET NULL"))


__all__ = [
    "CHARGER_TYPES", "CONNECTOR_TYPES", "EVSE_ID_PATTERN", "POWER_TYPES", "SITE_STATUSES",
    "Charger", "FuseNode", "FuseNodeConnector", "LocalController", "Organisation", "Port",
    "RfidCard", "Site", "Vehicle", "oicp_plug",
]

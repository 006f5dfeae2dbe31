"""What the hub keeps of the OCPP 2.0.1 blocks beyond transactions and the device model:
multi-part station reports (monitoring, display messages, customer information), the
variable monitors and display messages a station holds, its network connection profiles,
and the record of id-token erasures (GDPR).

``source`` says where a held row came from: ``hub`` (the hub sent it and the station accepted)
or ``report`` (the station reported it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Base, UTCDateTime, utcnow

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


class StationReportPart(Base):
    """One part of a report a station sends in parts (requestId, seqNo, tbc):
    NotifyMonitoringReport, NotifyDisplayMessages, NotifyCustomerInformation."""

    __tablename__ = "station_report_parts"
    __table_args__ = (sa.UniqueConstraint("station_id", "kind", "request_id", "seq_no",
                                          name="uq_station_report_parts_part"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(sa.String(48))
    kind: Mapped[str] = mapped_column(sa.String(32))
    request_id: Mapped[int] = mapped_column(sa.Integer)
    seq_no: Mapped[int] = mapped_column(sa.Integer)
    tbc: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The part's content as sent (camelCase): monitor list, messageInfo list or data text.
    data: Mapped[Any] = mapped_column(sa.JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StationMonitor(Base):
    """A variable monitor a station holds (SetVariableMonitoring, NotifyMonitoringReport)."""

    __tablename__ = "station_monitors"
    __table_args__ = (sa.UniqueConstraint("station_id", "monitor_id",
                                          name="uq_station_monitors_monitor"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(sa.String(48))
    monitor_id: Mapped[int] = mapped_column(sa.Integer)
    # {"component", "variable", "type", "severity", "value", "transaction"} (camelCase)
    monitor: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    source: Mapped[str] = mapped_column(sa.String(16))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StationDisplayMessage(Base):
    """A display message a station holds (SetDisplayMessage, NotifyDisplayMessages)."""

    __tablename__ = "station_display_messages"
    __table_args__ = (sa.UniqueConstraint("station_id", "message_id",
                                          name="uq_station_display_messages_message"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(sa.String(48))
    message_id: Mapped[int] = mapped_column(sa.Integer)
    # MessageInfoType as sent (camelCase)
    message: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    source: Mapped[str] = mapped_column(sa.String(16))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StationNetworkProfile(Base):
    """A network connection profile a station accepted (SetNetworkProfile), by slot."""

    __tablename__ = "station_network_profiles"
    __table_args__ = (sa.UniqueConstraint("station_id", "configuration_slot",
                                          name="uq_station_network_profiles_slot"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(sa.String(48))
    configuration_slot: Mapped[int] = mapped_column(sa.Integer)
    # NetworkConnectionProfileType as sent (camelCase)
    connection_data: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IdTokenErasure(Base):
    """That the hub erased an id token's personal data: the pseudonym that replaced it, never
    the token itself."""

    __tablename__ = "id_token_erasures"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    pseudonym: Mapped[str] = mapped_column(sa.String(36), unique=True)
    transactions: Mapped[int] = mapped_column(sa.Integer, default=0)
    erased_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Tariff(Base):
    """What charging costs: for one connector, a whole station (``connector_id`` null) or the
    hub's default (both null); the most specific one applies. Prices are net of tax."""

    __tablename__ = "tariffs"
    __table_args__ = (sa.UniqueConstraint("station_id", "connector_id",
                                          name="uq_tariffs_station_connector"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    station_id: Mapped[str | None] = mapped_column(sa.String(48))
    connector_id: Mapped[int | None] = mapped_column(sa.Integer)
    currency: Mapped[str] = mapped_column(sa.String(3))
    energy_price: Mapped[float] = mapped_column(sa.Float, default=0.0)  # per kWh
    time_price: Mapped[float] = mapped_column(sa.Float, default=0.0)  # per hour
    session_fee: Mapped[float] = mapped_column(sa.Float, default=0.0)
    tax_percent: Mapped[float] = mapped_column(sa.Float, default=0.0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TransactionCost(Base):
    """The cost of a transaction under its tariff: running while it charges, final at its end
    (what the station was told in CostUpdated / TransactionEventResponse.totalCost)."""

    __tablename__ = "transaction_costs"

    transaction_id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    currency: Mapped[str] = mapped_column(sa.String(3))
    net: Mapped[float] = mapped_column(sa.Float)
    total: Mapped[float] = mapped_column(sa.Float)  # including tax
    energy_wh: Mapped[float] = mapped_column(sa.Float)
    seconds: Mapped[int] = mapped_column(sa.Integer)
    final: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

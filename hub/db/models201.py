"""Core tables for OCPP 2.0.1 stations (migration 0002_ocpp201).

The version-independent facts stay in the core tables (``transactions``, ``meter_values``,
``connectors``, ...), so every surface reads 2.0.1 stations exactly like 1.6 ones. What only
2.0.1 has lives here: the TransactionEvent stream keyed by the charger's transactionId, the
EVSE/connector pair behind each core connector, the device model, and the charging reports.

EVSE mapping: a core ``connectors.connector_id`` / ``transactions.connector_id`` of a 2.0.1
station is its **EVSE id** (one outlet a driver can use at a time, which is what 1.6 calls a
connector and what Hubject calls an EVSE). The physical connectors of an EVSE are kept in
``evse_connectors`` and on each 2.0.1 transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Base, UTCDateTime, utcnow


class EvseConnector(Base):
    """The last ConnectorStatus (2.0.1 vocabulary) of one connector of an EVSE."""

    __tablename__ = "evse_connectors"

    station_id: Mapped[str] = mapped_column(
        sa.ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True
    )
    evse_id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    connector_id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    # Available, Occupied, Reserved, Unavailable, Faulted
    status: Mapped[str] = mapped_column(sa.String(20))
    status_timestamp: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Transaction201(Base):
    """What a 2.0.1 transaction adds to its core ``transactions`` row (same id)."""

    __tablename__ = "transactions_201"
    __table_args__ = (
        sa.UniqueConstraint("station_id", "ocpp_transaction_id",
                            name="uq_transactions_201_ocpp_id"),
    )

    transaction_id: Mapped[int] = mapped_column(
        sa.ForeignKey("transactions.id", ondelete="CASCADE"), primary_key=True
    )
    station_id: Mapped[str] = mapped_column(sa.String(48))
    ocpp_transaction_id: Mapped[str] = mapped_column(sa.String(36))
    evse_id: Mapped[int | None] = mapped_column(sa.Integer)
    connector_id: Mapped[int | None] = mapped_column(sa.Integer)
    # Charging, EVConnected, SuspendedEV, SuspendedEVSE, Idle
    charging_state: Mapped[str | None] = mapped_column(sa.String(16))
    id_token_type: Mapped[str | None] = mapped_column(sa.String(20))
    remote_start_id: Mapped[int | None] = mapped_column(sa.Integer)
    # True when any event of the transaction was queued while the station was offline.
    offline: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    started_seen: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    ended_seen: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    last_seq_no: Mapped[int] = mapped_column(sa.Integer, default=0)
    events: Mapped[int] = mapped_column(sa.Integer, default=0)
    # Where meter_start / the newest register reading came from, so that a late or repeated
    # event only ever moves them towards the truth (Transaction.Begin/End win, else time).
    meter_start_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    meter_start_begin: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    last_energy_wh: Mapped[int | None] = mapped_column(sa.BigInteger)
    last_energy_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_energy_end: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    time_spent_charging: Mapped[int | None] = mapped_column(sa.Integer)
    stopped_reason: Mapped[str | None] = mapped_column(sa.String(32))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class TransactionEventRecord(Base):
    """Every TransactionEvent received, once: (station, transactionId, seqNo) is unique, so a
    repeated event is recognised and changes nothing."""

    __tablename__ = "transaction_events"
    __table_args__ = (
        sa.UniqueConstraint("station_id", "ocpp_transaction_id", "seq_no",
                            name="uq_transaction_events_seq"),
        sa.Index("ix_transaction_events_transaction", "transaction_id"),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(sa.String(48))
    ocpp_transaction_id: Mapped[str] = mapped_column(sa.String(36))
    seq_no: Mapped[int] = mapped_column(sa.Integer)
    # Started, Updated, Ended
    event_type: Mapped[str] = mapped_column(sa.String(8))
    trigger_reason: Mapped[str] = mapped_column(sa.String(32))
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime)
    offline: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    charging_state: Mapped[str | None] = mapped_column(sa.String(16))
    evse_id: Mapped[int | None] = mapped_column(sa.Integer)
    connector_id: Mapped[int | None] = mapped_column(sa.Integer)
    id_token: Mapped[str | None] = mapped_column(sa.String(36))
    id_token_type: Mapped[str | None] = mapped_column(sa.String(20))
    stopped_reason: Mapped[str | None] = mapped_column(sa.String(32))
    meter_values: Mapped[int] = mapped_column(sa.Integer, default=0)
    transaction_id: Mapped[int] = mapped_column(sa.Integer)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeviceVariable(Base):
    """One attribute of one variable of the station's device model (NotifyReport inventory,
    GetVariables results, accepted SetVariables). Absent instance = '' and absent EVSE or
    connector = 0, so that every column can be part of the key."""

    __tablename__ = "device_variables"

    station_id: Mapped[str] = mapped_column(
        sa.ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True
    )
    component: Mapped[str] = mapped_column(sa.String(50), primary_key=True)
    component_instance: Mapped[str] = mapped_column(sa.String(50), primary_key=True, default="")
    evse_id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, default=0)
    connector_id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, default=0)
    variable: Mapped[str] = mapped_column(sa.String(50), primary_key=True)
    variable_instance: Mapped[str] = mapped_column(sa.String(50), primary_key=True, default="")
    # Actual, Target, MinSet, MaxSet
    attribute_type: Mapped[str] = mapped_column(sa.String(8), primary_key=True,
                                                default="Actual")
    value: Mapped[str | None] = mapped_column(sa.String(2500))
    # ReadOnly, WriteOnly, ReadWrite
    mutability: Mapped[str | None] = mapped_column(sa.String(10))
    persistent: Mapped[bool | None] = mapped_column(sa.Boolean)
    constant: Mapped[bool | None] = mapped_column(sa.Boolean)
    data_type: Mapped[str | None] = mapped_column(sa.String(20))
    unit: Mapped[str | None] = mapped_column(sa.String(16))
    min_limit: Mapped[float | None] = mapped_column(sa.Float)
    max_limit: Mapped[float | None] = mapped_column(sa.Float)
    values_list: Mapped[str | None] = mapped_column(sa.String(1000))
    supports_monitoring: Mapped[bool | None] = mapped_column(sa.Boolean)
    # NotifyReport, GetVariables, SetVariables
    source: Mapped[str] = mapped_column(sa.String(16))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class DeviceReport(Base):
    """Progress of a GetBaseReport / GetReport: NotifyReport parts arrive with seqNo and tbc."""

    __tablename__ = "device_reports"

    station_id: Mapped[str] = mapped_column(
        sa.ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True
    )
    request_id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    generated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    parts: Mapped[int] = mapped_column(sa.Integer, default=0)
    last_seq_no: Mapped[int | None] = mapped_column(sa.Integer)
    variables: Mapped[int] = mapped_column(sa.Integer, default=0)
    complete: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ChargingReport(Base):
    """Smart-charging information a station reports: NotifyChargingLimit,
    NotifyEVChargingNeeds, NotifyEVChargingSchedule, ReportChargingProfiles (payload as sent)."""

    __tablename__ = "charging_reports"
    __table_args__ = (sa.Index("ix_charging_reports_station_kind", "station_id", "kind"),)

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(sa.String(48))
    kind: Mapped[str] = mapped_column(sa.String(32))
    evse_id: Mapped[int | None] = mapped_column(sa.Integer)
    request_id: Mapped[int | None] = mapped_column(sa.Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

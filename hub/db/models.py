"""The core's tables: stations and their connectors, id tags, transactions, meter values,
reservations, configuration, the OCPP message log, API tokens and the outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Base, UTCDateTime, utcnow


class Station(Base):
    """A charge point known by its OCPP identity."""

    __tablename__ = "stations"

    id: Mapped[str] = mapped_column(sa.String(48), primary_key=True)
    # Hash of the security profile 1/2 password (HTTP Basic); None = no password required.
    password_hash: Mapped[str | None] = mapped_column(sa.String(200))
    # Per-station override of the unknown-station policy: Accepted, Pending or Rejected.
    registration_status: Mapped[str] = mapped_column(sa.String(16), default="Accepted")
    ocpp_version: Mapped[str | None] = mapped_column(sa.String(8))
    vendor: Mapped[str | None] = mapped_column(sa.String(50))
    model: Mapped[str | None] = mapped_column(sa.String(50))
    serial_number: Mapped[str | None] = mapped_column(sa.String(50))
    charge_box_serial_number: Mapped[str | None] = mapped_column(sa.String(50))
    firmware_version: Mapped[str | None] = mapped_column(sa.String(50))
    iccid: Mapped[str | None] = mapped_column(sa.String(20))
    imsi: Mapped[str | None] = mapped_column(sa.String(20))
    meter_type: Mapped[str | None] = mapped_column(sa.String(25))
    meter_serial_number: Mapped[str | None] = mapped_column(sa.String(25))
    boot_status: Mapped[str | None] = mapped_column(sa.String(16))
    last_boot_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    connected: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    connected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disconnected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    local_list_version: Mapped[int | None] = mapped_column(sa.Integer)
    # The key of the organisation that owns the station (the key API tokens carry), set only by
    # an admin (`pnc-hub station update ID --org KEY`, PATCH /api/stations/{id}/identity).
    # Only its owner's tokens may attach the station to their chargers; None = admins only.
    organisation_key: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Connector(Base):
    """A numbered outlet of a station; connector 0 stands for the station itself."""

    __tablename__ = "connectors"

    station_id: Mapped[str] = mapped_column(
        sa.ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True
    )
    connector_id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    status: Mapped[str | None] = mapped_column(sa.String(20))
    error_code: Mapped[str | None] = mapped_column(sa.String(30))
    info: Mapped[str | None] = mapped_column(sa.String(50))
    vendor_id: Mapped[str | None] = mapped_column(sa.String(255))
    vendor_error_code: Mapped[str | None] = mapped_column(sa.String(50))
    status_timestamp: Mapped[datetime | None] = mapped_column(UTCDateTime)
    availability: Mapped[str] = mapped_column(sa.String(12), default="Operative")
    current_transaction_id: Mapped[int | None] = mapped_column(sa.Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class IdTag(Base):
    """A locally known authorisation identifier (RFID uid, eMAID, ...)."""

    __tablename__ = "id_tags"

    id_tag: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    parent_id_tag: Mapped[str | None] = mapped_column(sa.String(36))
    expiry_date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    blocked: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Transaction(Base):
    """A charging transaction. ``id`` is the OCPP 1.6 transactionId; it is allocated by the
    database (AUTOINCREMENT on SQLite, a sequence on PostgreSQL) so it is never reused."""

    __tablename__ = "transactions"
    __table_args__ = (
        # With start_timestamp: a repeated StartTransaction is found by one index seek, not
        # by reading every transaction the connector ever had (see transactions._INSERT_NEW).
        sa.Index("ix_transactions_station_connector_start", "station_id", "connector_id",
                 "start_timestamp"),
        sa.Index("ix_transactions_status", "status"),
        sa.UniqueConstraint("station_id", "ocpp_transaction_id", name="uq_transactions_ocpp_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(sa.ForeignKey("stations.id"))
    connector_id: Mapped[int] = mapped_column(sa.Integer)
    # The charger's own transaction id where it has one (OCPP 2.0.1 transactionId).
    ocpp_transaction_id: Mapped[str | None] = mapped_column(sa.String(36))
    id_tag: Mapped[str | None] = mapped_column(sa.String(36))
    id_tag_status: Mapped[str | None] = mapped_column(sa.String(16))
    meter_start: Mapped[int | None] = mapped_column(sa.BigInteger)
    start_timestamp: Mapped[datetime] = mapped_column(UTCDateTime)
    reservation_id: Mapped[int | None] = mapped_column(sa.Integer)
    meter_stop: Mapped[int | None] = mapped_column(sa.BigInteger)
    stop_timestamp: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stop_reason: Mapped[str | None] = mapped_column(sa.String(32))
    stop_id_tag: Mapped[str | None] = mapped_column(sa.String(36))
    # active | completed
    status: Mapped[str] = mapped_column(sa.String(12), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def energy_wh(self) -> int | None:
        if self.meter_stop is None or self.meter_start is None:
            return None
        return self.meter_stop - self.meter_start


class MeterValue(Base):
    """One sampled value, with every attribute OCPP defines kept as sent."""

    __tablename__ = "meter_values"
    __table_args__ = (
        sa.Index("ix_meter_values_transaction", "transaction_id"),
        sa.Index("ix_meter_values_station_connector_ts", "station_id", "connector_id", "timestamp"),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(sa.String(48))
    connector_id: Mapped[int] = mapped_column(sa.Integer)
    transaction_id: Mapped[int | None] = mapped_column(sa.Integer)
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime)
    value: Mapped[str] = mapped_column(sa.String(64))
    numeric_value: Mapped[float | None] = mapped_column(sa.Float)
    context: Mapped[str | None] = mapped_column(sa.String(32))
    format: Mapped[str | None] = mapped_column(sa.String(16))
    measurand: Mapped[str] = mapped_column(sa.String(48), default="Energy.Active.Import.Register")
    phase: Mapped[str | None] = mapped_column(sa.String(8))
    location: Mapped[str | None] = mapped_column(sa.String(8))
    unit: Mapped[str | None] = mapped_column(sa.String(16))
    # Which message carried it: MeterValues, StopTransaction (transactionData), TransactionEvent.
    source: Mapped[str] = mapped_column(sa.String(20), default="MeterValues")


class LatestReading(Base):
    """The newest value per connector, measurand, phase and location, for fast live reads."""

    __tablename__ = "latest_readings"

    station_id: Mapped[str] = mapped_column(sa.String(48), primary_key=True)
    connector_id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    measurand: Mapped[str] = mapped_column(sa.String(48), primary_key=True)
    # '' rather than NULL so the columns can be part of the key.
    phase: Mapped[str] = mapped_column(sa.String(8), primary_key=True, default="")
    location: Mapped[str] = mapped_column(sa.String(8), primary_key=True, default="")
    value: Mapped[str] = mapped_column(sa.String(64))
    numeric_value: Mapped[float | None] = mapped_column(sa.Float)
    unit: Mapped[str | None] = mapped_column(sa.String(16))
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime)
    transaction_id: Mapped[int | None] = mapped_column(sa.Integer)


class Reservation(Base):
    __tablename__ = "reservations"
    __table_args__ = (sa.Index("ix_reservations_station", "station_id"),)

    # The OCPP reservationId, chosen by the hub.
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(sa.ForeignKey("stations.id", ondelete="CASCADE"))
    connector_id: Mapped[int] = mapped_column(sa.Integer)
    id_tag: Mapped[str] = mapped_column(sa.String(36))
    parent_id_tag: Mapped[str | None] = mapped_column(sa.String(36))
    expiry_date: Mapped[datetime] = mapped_column(UTCDateTime)
    # Requested, Accepted, Faulted, Occupied, Rejected, Unavailable, Cancelled, Used, Expired
    status: Mapped[str] = mapped_column(sa.String(16), default="Requested")
    transaction_id: Mapped[int | None] = mapped_column(sa.Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class StationConfigurationKey(Base):
    """A configuration key as last read from (or successfully written to) the station."""

    __tablename__ = "station_configuration"

    station_id: Mapped[str] = mapped_column(
        sa.ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    value: Mapped[str | None] = mapped_column(sa.Text)
    readonly: Mapped[bool | None] = mapped_column(sa.Boolean)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class StationNotification(Base):
    """Status reports a station sends about itself: diagnostics, firmware, logs, security."""

    __tablename__ = "station_notifications"
    __table_args__ = (sa.Index("ix_station_notifications_station_kind", "station_id", "kind"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(sa.String(48))
    # DiagnosticsStatus, FirmwareStatus, SignedFirmwareStatus, LogStatus, SecurityEvent
    kind: Mapped[str] = mapped_column(sa.String(24))
    status: Mapped[str] = mapped_column(sa.String(50))
    request_id: Mapped[int | None] = mapped_column(sa.Integer)
    detail: Mapped[str | None] = mapped_column(sa.Text)
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OcppMessage(Base):
    """The OCPP message log, written in batches from a bounded queue."""

    __tablename__ = "ocpp_messages"
    __table_args__ = (sa.Index("ix_ocpp_messages_station_ts", "station_id", "timestamp"),)

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(sa.String(48))
    # in = from the station, out = to the station
    direction: Mapped[str] = mapped_column(sa.String(3))
    message_type: Mapped[int] = mapped_column(sa.SmallInteger)
    unique_id: Mapped[str | None] = mapped_column(sa.String(64))
    action: Mapped[str | None] = mapped_column(sa.String(64))
    payload: Mapped[str] = mapped_column(sa.Text)
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime)
    # None: the hub's own traffic with the station; "relay": passed between the station and
    # its upstream backend; "mirror": the mirror upstream's answers (hub/ocpp_server/relay.py).
    via: Mapped[str | None] = mapped_column(sa.String(8))


class ApiToken(Base):
    """A bearer token for the HTTP APIs. Only the SHA-256 of the token is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    # Space-separated scopes: "admin", "sites:read", "sites:write", ...
    scopes: Mapped[str] = mapped_column(sa.String(255), default="admin")
    organisation_id: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # None: never expires. Checked on every request (also for cached lookups).
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Written at most once a minute per token (hub.auth.TokenVerifier), not per request.
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboxMessage(Base):
    """Work for the outside world written in the same transaction as the fact that caused it.

    A feature's worker drains its ``topic``; ``ordering_key`` keeps per-key order (e.g. an EVSE).
    """

    __tablename__ = "outbox"
    __table_args__ = (
        sa.Index("ix_outbox_pending", "topic", "delivered_at", "id"),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(sa.String(64))
    ordering_key: Mapped[str | None] = mapped_column(sa.String(128))
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(sa.Text)


class PkiCertificate(Base):
    """A certificate of the Plug&Charge / OCPP PKI: trust anchors by use, the hub's own CAs and
    every certificate the hub issued, with its revocation state. Public material only: the CA
    private keys stay in files (mode 0600) outside the database.

    The column set is the storage protocol of the ``certs`` package; ``hub.certificate_store``
    implements that protocol on this table.
    """

    __tablename__ = "pki_certificates"
    __table_args__ = (
        sa.Index("ix_pki_certificates_serial", "serial"),
        sa.Index("ix_pki_certificates_issuer_serial", "issuer_name_sha256", "serial"),
        sa.Index("ix_pki_certificates_subject", "subject_name_sha256"),
        sa.Index("ix_pki_certificates_role_not_after", "role", "not_after"),
        sa.Index("ix_pki_certificates_station", "station_id"),
    )

    # Lowercase hex SHA-256 of the DER.
    fingerprint: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    der: Mapped[bytes] = mapped_column(sa.LargeBinary)
    # V2GRootCertificate, CPOSubCA2, V2GCertificate, ChargingStationCertificate, ...
    role: Mapped[str] = mapped_column(sa.String(40))
    # Lowercase hex without leading zeros, as in OCPP CertificateHashData.
    serial: Mapped[str] = mapped_column(sa.String(64))
    # RFC 4514, for people; lookups use the name hashes.
    subject: Mapped[str] = mapped_column(sa.Text)
    subject_name_sha256: Mapped[str] = mapped_column(sa.String(64))
    issuer_name_sha256: Mapped[str] = mapped_column(sa.String(64))
    not_before: Mapped[datetime] = mapped_column(UTCDateTime)
    not_after: Mapped[datetime] = mapped_column(UTCDateTime)
    # The station a certificate was issued to; no foreign key: the record outlives the station.
    station_id: Mapped[str | None] = mapped_column(sa.String(48))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # RFC 5280 reason name, e.g. keyCompromise.
    revocation_reason: Mapped[str | None] = mapped_column(sa.String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StationSeccId(Base):
    """An ISO 15118 SECC ID (or EVSE ID) a station's SECC certificates may carry as CN, set by
    the operator (``pnc-hub station add|update ID --secc-id ...``). V2G CSRs are bound to these
    and to the EvseIDs of the station's ports."""

    __tablename__ = "station_secc_ids"

    station_id: Mapped[str] = mapped_column(
        sa.ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True
    )
    secc_id: Mapped[str] = mapped_column(sa.String(48), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

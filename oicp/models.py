"""The feature's own table: Hubject sessions and the OCPP transaction each one became.

A session row is written when Hubject hands us a SessionID (remote start, reservation) or when
Hubject authorised an RFID card for us (AuthorizeStart). It is linked to the OCPP transaction
when the charger starts one, so that notifications and the CDR carry the SessionID.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Base, UTCDateTime, utcnow

# kind
REMOTE = "remote"
AUTHORIZE = "authorize"
RESERVATION = "reservation"

# state
PENDING = "pending"        # waiting for the charger's StartTransaction
ACTIVE = "active"          # linked to a running transaction
STOPPED = "stopped"        # transaction ended; CDR queued
FAILED = "failed"          # the charger refused or could not be reached
CANCELLED = "cancelled"    # stopped by the EMP before any transaction
EXPIRED = "expired"        # no transaction came in time
RESERVED = "reserved"      # reservation accepted by the charger
ENDED = "ended"            # reservation over (stopped, used or expired); CDR queued

OPEN_STATES = (PENDING, ACTIVE, RESERVED)


class OicpSession(Base):
    __tablename__ = "oicp_sessions"
    __table_args__ = (
        sa.Index("ix_oicp_sessions_station_state", "station_id", "state"),
        sa.Index("ix_oicp_sessions_transaction", "station_id", "transaction_id"),
    )

    session_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(12))
    state: Mapped[str] = mapped_column(sa.String(12))
    provider_id: Mapped[str | None] = mapped_column(sa.String(16))
    evse_id: Mapped[str | None] = mapped_column(sa.String(48))
    station_id: Mapped[str | None] = mapped_column(sa.String(48))
    connector_id: Mapped[int | None] = mapped_column(sa.Integer)
    # The OCPP idTag the charger will report (EvcoID for remote starts, the card's UID).
    id_tag: Mapped[str | None] = mapped_column(sa.String(36))
    identification: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    stop_identifications: Mapped[list[Any] | None] = mapped_column(sa.JSON)
    emp_partner_session_id: Mapped[str | None] = mapped_column(sa.String(250))
    cpo_partner_session_id: Mapped[str | None] = mapped_column(sa.String(250))
    partner_product_id: Mapped[str | None] = mapped_column(sa.String(50))
    transaction_id: Mapped[int | None] = mapped_column(sa.Integer)
    reservation_id: Mapped[int | None] = mapped_column(sa.Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_progress_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The ChargingNotification End went out when energy stopped flowing (SuspendedEV,
    # Finishing) while the session went on: the transaction's end sends no second one.
    charging_ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class OicpSignedMeterValue(Base):
    """Signed meter data (Eichrecht) of a transaction, kept byte for byte as the station sent
    it, for the CDR's SignedMeteringValues and CalibrationLawVerificationInfo."""

    __tablename__ = "oicp_signed_meter_values"
    __table_args__ = (sa.Index("ix_oicp_signed_meter_values_transaction", "transaction_id"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(sa.String(48))
    connector_id: Mapped[int] = mapped_column(sa.Integer)
    transaction_id: Mapped[int] = mapped_column(sa.Integer)
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime)
    # Transaction.Begin, Sample.Periodic, Transaction.End, ...
    context: Mapped[str | None] = mapped_column(sa.String(32))
    measurand: Mapped[str | None] = mapped_column(sa.String(48))
    # 1.6 "SignedData" (the sampled value), 2.0.1 "signedMeterValue"
    format: Mapped[str] = mapped_column(sa.String(20))
    signed_data: Mapped[str] = mapped_column(sa.Text)
    signing_method: Mapped[str | None] = mapped_column(sa.String(50))
    encoding_method: Mapped[str | None] = mapped_column(sa.String(50))
    public_key: Mapped[str | None] = mapped_column(sa.Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

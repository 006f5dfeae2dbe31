"""Plug&Charge tables: lifecycle jobs, what each station has installed, and OCSP answers.

- ``pnc_jobs``: every piece of work the hub must finish with a station even across restarts
  (sign a CSR and deliver CertificateSigned, renew an expiring certificate, install a root).
  ``key`` makes creating a job idempotent; ``lease_until`` lets one runner (one node) own it.
- ``pnc_installed_certificates``: the certificates a station reported
  (GetInstalledCertificateIds) or accepted from the hub (InstallCertificate, CertificateSigned),
  by CertificateHashData, matched to the certificate store where possible.
- ``pnc_inventory_reports``: when a station last reported each certificate type.
- ``pnc_ocsp_responses``: the latest verified OCSP answer per certificate (CertID), refreshed
  before it goes stale, so GetCertificateStatus survives restarts and responder outages.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Base, UTCDateTime, utcnow

# Job states
PENDING = "pending"
WAITING = "waiting"
DONE = "done"
FAILED = "failed"
OPEN_STATES = (PENDING, WAITING)


class PncJob(Base):
    __tablename__ = "pnc_jobs"
    __table_args__ = (
        sa.Index("ix_pnc_jobs_due", "state", "next_run_at"),
        sa.Index("ix_pnc_jobs_station", "station_id", "state"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    # sign, renew, install_root
    kind: Mapped[str] = mapped_column(sa.String(24))
    key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    station_id: Mapped[str | None] = mapped_column(sa.String(48))
    state: Mapped[str] = mapped_column(sa.String(12), default=PENDING)
    step: Mapped[str] = mapped_column(sa.String(24))
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PncInstalledCertificate(Base):
    __tablename__ = "pnc_installed_certificates"
    __table_args__ = (
        sa.UniqueConstraint("station_id", "certificate_type", "hash_algorithm",
                            "issuer_name_hash", "issuer_key_hash", "serial_number",
                            name="uq_pnc_installed_certificates_hash"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(sa.String(48), index=True)
    # V2GRootCertificate, MORootCertificate, CSMSRootCertificate, ManufacturerRootCertificate,
    # V2GCertificateChain (leaf, with its sub-CAs as child rows), ChargingStationCertificate
    certificate_type: Mapped[str] = mapped_column(sa.String(32))
    hash_algorithm: Mapped[str] = mapped_column(sa.String(8))
    issuer_name_hash: Mapped[str] = mapped_column(sa.String(128))
    issuer_key_hash: Mapped[str] = mapped_column(sa.String(128))
    serial_number: Mapped[str] = mapped_column(sa.String(64))
    # A sub-CA reported as childCertificateHashData of this row's parent.
    parent_id: Mapped[int | None] = mapped_column(sa.Integer)
    # The certificate store's fingerprint of this certificate, when the hub knows it.
    fingerprint: Mapped[str | None] = mapped_column(sa.String(64))
    # reported (GetInstalledCertificateIds), installed (InstallCertificate), signed
    # (CertificateSigned accepted)
    source: Mapped[str] = mapped_column(sa.String(12))
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PncInventoryReport(Base):
    __tablename__ = "pnc_inventory_reports"

    station_id: Mapped[str] = mapped_column(sa.String(48), primary_key=True)
    certificate_type: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    status: Mapped[str] = mapped_column(sa.String(12))
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PncOcspResponse(Base):
    __tablename__ = "pnc_ocsp_responses"
    __table_args__ = (
        sa.UniqueConstraint("hash_algorithm", "issuer_name_hash", "issuer_key_hash",
                            "serial_number", name="uq_pnc_ocsp_responses_cert_id"),
        sa.Index("ix_pnc_ocsp_responses_next_update", "next_update"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    hash_algorithm: Mapped[str] = mapped_column(sa.String(8))
    issuer_name_hash: Mapped[str] = mapped_column(sa.String(128))
    issuer_key_hash: Mapped[str] = mapped_column(sa.String(128))
    serial_number: Mapped[str] = mapped_column(sa.String(64))
    responder_url: Mapped[str] = mapped_column(sa.String(512))
    # good, revoked, unknown (None until the first answer)
    cert_status: Mapped[str | None] = mapped_column(sa.String(8))
    der: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    this_update: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_update: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    station_id: Mapped[str | None] = mapped_column(sa.String(48))
    failures: Mapped[int] = mapped_column(sa.Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)


# Trust anchor states of roots that came from the root certificate pool
TRUSTED = "trusted"
EXPIRED = "expired"
REVOKED = "revoked"
REMOVED = "removed"


class PncRcpRoot(Base):
    """A V2G or MO root the hub took from the root certificate pool (RCP). Only these roots are
    ever withdrawn by the sync: roots the operator imported stay the operator's business."""

    __tablename__ = "pnc_rcp_roots"

    fingerprint: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    root_certificate_id: Mapped[str | None] = mapped_column(sa.String(64))
    # V2G, MO
    root_type: Mapped[str] = mapped_column(sa.String(8))
    # trusted, expired, revoked, removed (no longer in the pool)
    state: Mapped[str] = mapped_column(sa.String(12), default=TRUSTED)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(sa.Text)


class PncWebhookEvent(Base):
    """OPCP webhook events received (signature verified), by eventId: a repeat is answered
    without acting twice."""

    __tablename__ = "pnc_webhook_events"

    event_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    event_type: Mapped[str] = mapped_column(sa.String(64))
    event_timestamp: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)

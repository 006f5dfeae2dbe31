"""Tables of hub.files (migration 0005_diagnostics).

- ``stored_files``: every file the hub keeps under ``[files] data_dir`` (diagnostics and logs
  that stations uploaded, firmware images an operator uploaded), with size and SHA-256.
- ``diagnostics_requests``: one GetDiagnostics / GetLog cycle, from the command to the file.
- ``firmware_requests``: one UpdateFirmware / SignedUpdateFirmware cycle, to Installed.
- ``file_request_events``: the history of both (append-only: concurrent writers never race).

Upload and download tokens are stored as SHA-256 only, like API tokens.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Base, UTCDateTime, utcnow


class StoredFile(Base):
    __tablename__ = "stored_files"
    __table_args__ = (
        sa.UniqueConstraint("kind", "name", name="uq_stored_files_kind_name"),
        sa.Index("ix_stored_files_station", "station_id"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    # diagnostics (diagnostics and log uploads) or firmware
    kind: Mapped[str] = mapped_column(sa.String(16))
    # The name the API lists and serves it under (unique per kind).
    name: Mapped[str] = mapped_column(sa.String(200))
    # What the uploader called it, before sanitising.
    original_name: Mapped[str | None] = mapped_column(sa.String(255))
    # Relative to data_dir; never derived from client input without sanitising.
    relpath: Mapped[str] = mapped_column(sa.String(400), unique=True)
    station_id: Mapped[str | None] = mapped_column(sa.String(48))
    request_id: Mapped[int | None] = mapped_column(sa.Integer)
    size: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    # http-put, http-multipart, ftp, admin
    source: Mapped[str] = mapped_column(sa.String(24))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DiagnosticsRequest(Base):
    __tablename__ = "diagnostics_requests"
    __table_args__ = (sa.Index("ix_diagnostics_requests_station", "station_id", "id"),)

    # Also the requestId of GetLog / LogStatusNotification.
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(sa.String(48))
    ocpp_version: Mapped[str] = mapped_column(sa.String(8))
    # GetDiagnostics (1.6) or GetLog (1.6 Security Whitepaper, 2.0.1)
    action: Mapped[str] = mapped_column(sa.String(24))
    log_type: Mapped[str | None] = mapped_column(sa.String(24))
    # http, ftp (the hub receives the file) or external (a location the caller gave)
    transport: Mapped[str] = mapped_column(sa.String(8))
    # As sent, with the credentials replaced by "***".
    location: Mapped[str] = mapped_column(sa.Text)
    token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    token_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(sa.String(16))
    station_status: Mapped[str | None] = mapped_column(sa.String(32))
    # The file name the station announced in its answer.
    file_name: Mapped[str | None] = mapped_column(sa.String(255))
    file_id: Mapped[int | None] = mapped_column(sa.Integer)
    error: Mapped[str | None] = mapped_column(sa.Text)
    parameters: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class FirmwareRequest(Base):
    __tablename__ = "firmware_requests"
    __table_args__ = (sa.Index("ix_firmware_requests_station", "station_id", "id"),)

    # Also the requestId of SignedUpdateFirmware / 2.0.1 UpdateFirmware.
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(sa.String(48))
    ocpp_version: Mapped[str] = mapped_column(sa.String(8))
    # UpdateFirmware (1.6 or 2.0.1) or SignedUpdateFirmware (1.6 Security Whitepaper)
    action: Mapped[str] = mapped_column(sa.String(24))
    signed: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    # The firmware file served by the hub (None: an external location).
    file_id: Mapped[int | None] = mapped_column(sa.Integer)
    file_name: Mapped[str | None] = mapped_column(sa.String(200))
    location: Mapped[str] = mapped_column(sa.Text)
    token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    state: Mapped[str] = mapped_column(sa.String(16))
    station_status: Mapped[str | None] = mapped_column(sa.String(32))
    error: Mapped[str | None] = mapped_column(sa.Text)
    retrieve_date: Mapped[datetime] = mapped_column(UTCDateTime)
    install_date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    parameters: Mapped[str | None] = mapped_column(sa.Text)
    downloads: Mapped[int] = mapped_column(sa.Integer, default=0)
    last_download_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class FileRequestEvent(Base):
    __tablename__ = "file_request_events"
    __table_args__ = (sa.Index("ix_file_request_events_request", "request_type", "request_id"),)

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    # diagnostics or firmware
    request_type: Mapped[str] = mapped_column(sa.String(12))
    request_id: Mapped[int] = mapped_column(sa.Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    state: Mapped[str] = mapped_column(sa.String(16))
    station_status: Mapped[str | None] = mapped_column(sa.String(32))
    detail: Mapped[str | None] = mapped_column(sa.Text)

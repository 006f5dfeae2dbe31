"""Broker redirects: a station's OCPP connection relayed to, or mirrored to, another backend.

The upstream password is kept because the hub must present it to the upstream; it is never
returned by the API, never put in a log line, and the history only says that it changed.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Base, UTCDateTime, utcnow


class StationRedirect(Base):
    """One redirect per station (``hub/services/redirects.py`` owns the rules)."""

    __tablename__ = "station_redirects"

    station_id: Mapped[str] = mapped_column(sa.String(48), primary_key=True)
    # ws:// or wss://; "{station_id}" is replaced, else the station id is appended.
    target_url: Mapped[str] = mapped_column(sa.String(500))
    # relay: the upstream is the station's backend; mirror: the hub is, the upstream gets copies.
    mode: Mapped[str] = mapped_column(sa.String(8))
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    upstream_password: Mapped[str | None] = mapped_column(sa.String(255))
    # TLS client certificate towards a wss:// upstream (PEM files on the hub's disk).
    client_cert: Mapped[str | None] = mapped_column(sa.String(500))
    client_key: Mapped[str | None] = mapped_column(sa.String(500))
    ca_bundle: Mapped[str | None] = mapped_column(sa.String(500))
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(sa.String(128))

    def __repr__(self) -> str:  # the default would not show the password, but say so here
        return f"StationRedirect({self.station_id!r}, {self.mode}, enabled={self.enabled})"


class RedirectEvent(Base):
    """Who changed a station's redirect, when, and to what (the seed's marked-wallbox history)."""

    __tablename__ = "station_redirect_history"
    __table_args__ = (sa.Index("ix_station_redirect_history_station", "station_id", "id"),)

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(sa.String(48))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str | None] = mapped_column(sa.String(128))
    # created | updated | deleted
    action: Mapped[str] = mapped_column(sa.String(16))
    target_url: Mapped[str | None] = mapped_column(sa.String(500))
    mode: Mapped[str | None] = mapped_column(sa.String(8))
    enabled: Mapped[bool | None] = mapped_column(sa.Boolean)
    # What changed, e.g. "upstream_password changed" (never the password itself).
    detail: Mapped[str | None] = mapped_column(sa.Text)

"""What charging profiles each station holds, as far as the hub knows.

Kept from the hub's own SetChargingProfile / ClearChargingProfile calls that the station
accepted, and from the ReportChargingProfiles a 2.0.1 station sends (``source`` says which).
``connector_id`` is the 1.6 connector or the 2.0.1 EVSE id (0: the whole station).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Base, UTCDateTime, utcnow


class StationChargingProfile(Base):
    __tablename__ = "station_charging_profiles"
    __table_args__ = (sa.UniqueConstraint("station_id", "profile_id",
                                          name="uq_station_charging_profiles_profile"),)

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(sa.String(48))
    connector_id: Mapped[int] = mapped_column(sa.Integer)
    profile_id: Mapped[int] = mapped_column(sa.Integer)
    stack_level: Mapped[int] = mapped_column(sa.Integer)
    purpose: Mapped[str] = mapped_column(sa.String(32))
    # The hub's transaction id (TxProfile), when it knows the transaction.
    transaction_id: Mapped[int | None] = mapped_column(sa.Integer)
    # hub (the hub sent it and the station accepted) | report (ReportChargingProfiles)
    source: Mapped[str] = mapped_column(sa.String(16))
    # The profile in the management API's snake_case form.
    profile: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

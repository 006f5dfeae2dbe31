"""What the operator provisions about a station's identity: the organisation that owns it and
the SECC IDs its ISO 15118 certificates may carry. Set by an admin only (CLI or management
API); nothing a station sends about itself ever changes it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.db.models import Station, StationSeccId

#: "leave it as it is" for ``provision``'s optional arguments (None means "clear").
UNCHANGED: Any = object()
MAX_SECC_ID = 48


class ProvisioningError(ValueError):
    """Input the operator must correct; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


_ORGANISATIONS = sa.table("organisations", sa.column("id"), sa.column("key"))


async def organisation_exists(session: AsyncSession, key: str) -> bool:
    """Whether the organisation is registered. Organisations are the Sites feature's table,
    named here without importing the feature; a database without that table keeps no
    organisation registry, so any key names one."""
    conn = await session.connection()
    if not await conn.run_sync(lambda c: sa.inspect(c).has_table("organisations")):
        return True
    return (await session.scalar(sa.select(_ORGANISATIONS.c.id).where(
        _ORGANISATIONS.c.key == key))) is not None


def check_secc_ids(values: Sequence[Any], syntax: Callable[[str], bool] | None,
                   field: str = "secc_ids") -> list[str]:
    """The distinct SECC IDs, or ProvisioningError naming the first bad one."""
    out: list[str] = []
    for i, value in enumerate(values):
        if not isinstance(value, str) or not 0 < len(value) <= MAX_SECC_ID or (
                syntax is not None and not syntax(value)):
            raise ProvisioningError(f"{field}[{i}]", f"{value!r} is neither an EVSE ID nor a "
                                    "SECC ID")
        if value not in out:
            out.append(value)
    return out


async def provision(session: AsyncSession, station: Station, *,
                    organisation: str | None = UNCHANGED,
                    secc_ids: Sequence[str] | None = UNCHANGED) -> None:
    """Set the owner (None: no owner) and/or replace the SECC IDs (None or []: none)."""
    if organisation is not UNCHANGED:
        if organisation is not None and not await organisation_exists(session, organisation):
            raise ProvisioningError("organization_id", f"unknown organisation {organisation!r} "
                                    "(create it first: PUT /organisations/{key})")
        station.organisation_key = organisation
    if secc_ids is not UNCHANGED:
        await session.execute(sa.delete(StationSeccId).where(
            StationSeccId.station_id == station.id))
        now = datetime.now(UTC)
        session.add_all(StationSeccId(station_id=station.id, secc_id=secc_id, created_at=now)
                        for secc_id in secc_ids or ())


async def secc_ids_of(session: AsyncSession, station_id: str) -> list[str]:
    return list((await session.scalars(sa.select(StationSeccId.secc_id).where(
        StationSeccId.station_id == station_id).order_by(StationSeccId.secc_id))).all())

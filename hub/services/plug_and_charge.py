"""Which stations do Plug&Charge, as the hub knows it (never as a station says): a station
holds a valid ISO 15118 SECC certificate the hub's PKI issued or recorded for it (role
``V2GCertificate``, not revoked, not expired). Roaming features read it to advertise "PnC" per
EVSE; the Plug&Charge feature announces changes with ``EvseDataChanged``.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.base import utcnow
from hub.db.models import PkiCertificate

SECC_ROLE = "V2GCertificate"


async def stations_with_secc_certificate(conn: AsyncConnection,
                                         station_ids: Iterable[str]) -> set[str]:
    """The stations among ``station_ids`` that hold a valid SECC certificate."""
    ids = sorted(set(station_ids))
    found: set[str] = set()
    now = utcnow()
    for start in range(0, len(ids), 500):  # bound the statement's parameters
        found |= set((await conn.execute(sa.select(PkiCertificate.station_id).where(
            PkiCertificate.station_id.in_(ids[start:start + 500]),
            PkiCertificate.role == SECC_ROLE, PkiCertificate.revoked_at.is_(None),
            PkiCertificate.not_before <= now, PkiCertificate.not_after > now).distinct())
        ).scalars())
    return found

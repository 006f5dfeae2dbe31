"""The PKI's certificate storage on the hub's database.

Implements the storage protocol of the ``certs`` package (``certs.store.CertificateStore``)
structurally: same method names and plain-typed signatures, without importing ``certs`` (the
core never imports a feature package). Rows of ``PkiCertificate`` are handed back as the
records; their attributes are the protocol's record fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.db.base import Base
from hub.db.models import PkiCertificate, Station, StationSeccId


class DatabaseCertificateStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add_certificate(
        self,
        *,
        fingerprint: str,
        der: bytes,
        role: str,
        serial: str,
        subject: str,
        subject_name_sha256: str,
        issuer_name_sha256: str,
        not_before: datetime,
        not_after: datetime,
        station_id: str | None = None,
    ) -> bool:
        """Insert; False (and nothing changed) if the fingerprint is already stored."""
        try:
            async with self._sessions() as session, session.begin():
                if await session.get(PkiCertificate, fingerprint) is not None:
                    return False
                session.add(PkiCertificate(
                    fingerprint=fingerprint, der=bytes(der), role=str(role), serial=serial,
                    subject=subject, subject_name_sha256=subject_name_sha256,
                    issuer_name_sha256=issuer_name_sha256, not_before=not_before,
                    not_after=not_after, station_id=station_id,
                ))
        except IntegrityError:  # inserted concurrently by another node
            return False
        return True

    async def get_certificate(self, fingerprint: str) -> PkiCertificate | None:
        async with self._sessions() as session:
            return await session.get(PkiCertificate, fingerprint)

    async def find_certificates(
        self,
        *,
        role: str | None = None,
        serial: str | None = None,
        subject_name_sha256: str | None = None,
        issuer_name_sha256: str | None = None,
        station_id: str | None = None,
        not_after_before: datetime | None = None,
    ) -> Sequence[PkiCertificate]:
        """All records matching every given filter, ordered by not_after."""
        query = sa.select(PkiCertificate)
        if role is not None:
            query = query.where(PkiCertificate.role == str(role))
        if serial is not None:
            query = query.where(PkiCertificate.serial == serial)
        if subject_name_sha256 is not None:
            query = query.where(PkiCertificate.subject_name_sha256 == subject_name_sha256)
        if issuer_name_sha256 is not None:
            query = query.where(PkiCertificate.issuer_name_sha256 == issuer_name_sha256)
        if station_id is not None:
            query = query.where(PkiCertificate.station_id == station_id)
        if not_after_before is not None:
            query = query.where(PkiCertificate.not_after < not_after_before)
        query = query.order_by(PkiCertificate.not_after, PkiCertificate.fingerprint)
        async with self._sessions() as session:
            return list((await session.scalars(query)).all())

    async def revoke_certificate(self, fingerprint: str, *, revoked_at: datetime,
                                 reason: str) -> bool:
        """Mark revoked; a second revocation keeps the first time and reason."""
        async with self._sessions() as session, session.begin():
            await session.execute(
                sa.update(PkiCertificate)
                .where(PkiCertificate.fingerprint == fingerprint,
                       PkiCertificate.revoked_at.is_(None))
                .values(revoked_at=revoked_at, revocation_reason=reason)
            )
            exists = await session.scalar(
                sa.select(sa.func.count()).select_from(PkiCertificate)
                .where(PkiCertificate.fingerprint == fingerprint))
        return bool(exists)

    async def delete_certificate(self, fingerprint: str) -> bool:
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                sa.delete(PkiCertificate).where(PkiCertificate.fingerprint == fingerprint))
        return bool(result.rowcount)

    async def station_identities(self, station_id: str) -> list[str] | None:
        """The names a station's certificates may carry as CN, all provisioned by the operator:
        its OCPP identity, the SECC IDs set for it (``pnc-hub station update ID --secc-id``,
        ``PATCH /api/stations/{id}/identity``) and, when the Sites feature is loaded, the
        EvseIDs of the ports of the charger it is linked to (a link only an admin or the
        station's owning organisation can make). Never what the station reports about itself
        (BootNotification serial numbers, NotifyReport, DataTransfer, earlier CSRs): a station
        could otherwise name itself after another one. None for a station the hub does not
        know."""
        async with self._sessions() as session:
            station = await session.get(Station, station_id)
            if station is None:
                return None
            secc_ids = (await session.scalars(sa.select(StationSeccId.secc_id).where(
                StationSeccId.station_id == station_id).order_by(StationSeccId.secc_id))).all()
            evse_ids = await _port_evse_ids(session, station_id)
        return list(dict.fromkeys([station.id, *secc_ids, *evse_ids]))


async def _port_evse_ids(session: AsyncSession, station_id: str) -> list[str]:
    """EvseIDs of the station's ports, read through the shared metadata so the core needs no
    import of the Sites feature: the tables exist only when that feature is loaded."""
    ports = Base.metadata.tables.get("ports")
    chargers = Base.metadata.tables.get("chargers")
    if ports is None or chargers is None or "evse_id" not in ports.c:
        return []
    query = (sa.select(ports.c.evse_id)
             .join(chargers, chargers.c.id == ports.c.charger_id)
             .where(chargers.c.station_id == station_id, ports.c.evse_id.is_not(None))
             .order_by(ports.c.evse_id))
    return list((await session.scalars(query)).all())

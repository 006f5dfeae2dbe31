"""Lifecycle automation, one sweep every ``lifecycle_interval_seconds``:

- renew SECC and charging-station certificates that expire within ``renew_within_days`` (a
  ``renew`` job per certificate: trigger the station, sign its CSR, deliver the chain);
- roll trust anchors out to every Plug&Charge station (an ``install_root`` job per station and
  anchor not known to be installed);
- refresh stored OCSP answers before they go stale.

Each step only creates jobs whose key does not exist yet, so sweeps are idempotent and a
restart simply sweeps again; the jobs carry the state.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from certs.lifecycle import expiring_certificates
from certs.roles import CertificateRole
from certs.store import CertificateRecord
from hub.db.base import utcnow
from hub.db.models import PkiCertificate, StationSeccId
from pnc import inventory, ocsp_status
from pnc.models import PncInstalledCertificate

if TYPE_CHECKING:
    from pnc.runtime import Pnc

log = logging.getLogger(__name__)
RENEWED_ROLES = {str(CertificateRole.SECC): "V2GCertificate",
                 str(CertificateRole.CHARGING_STATION): "ChargingStationCertificate"}


class Lifecycle:
    def __init__(self, pnc: Pnc) -> None:
        self.pnc = pnc
        self._task: asyncio.Task[None] | None = None
        self.last_sweep: dict[str, Any] = {}

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            try:
                # Once per cluster: renewals and rollouts open jobs, and two nodes sweeping
                # at once would open them twice.
                if await self.pnc.hub.cluster.lead("pnc-lifecycle"):
                    await self.sweep()
            except Exception:
                log.exception("the Plug&Charge lifecycle sweep failed")
            await asyncio.sleep(self.pnc.settings.lifecycle_interval_seconds)

    async def sweep(self) -> dict[str, Any]:
        await self.pnc.reload_pki()
        renewals = await self.renewals()
        rollout = await self.rollout() if self.pnc.settings.auto_rollout else []
        refreshed = await ocsp_status.refresh(self.pnc)
        self.last_sweep = {"at": utcnow().isoformat(), "renewalJobs": len(renewals),
                           "rolloutJobs": len(rollout), "ocspRefreshed": refreshed}
        if renewals or rollout:
            self.pnc.jobs.wake()
        return self.last_sweep

    async def superseded(self, record: CertificateRecord) -> bool:
        """A newer certificate with the same subject was issued to the same station."""
        if record.station_id is None:
            return False
        newer = await self.pnc.store.find_certificates(station_id=record.station_id,
                                                       role=record.role)
        return any(r.subject == record.subject and r.not_after > record.not_after
                   and r.revoked_at is None and r.fingerprint != record.fingerprint
                   for r in newer)

    async def renewals(self) -> list[int]:
        created = []
        for role, certificate_type in RENEWED_ROLES.items():
            for record in await expiring_certificates(
                    self.pnc.store, self.pnc.settings.renew_within_days, role=role):
                if record.station_id is None or await self.superseded(record):
                    continue
                created.append(await self.pnc.jobs.ensure(
                    "renew", f"renew:{record.fingerprint}", record.station_id, "trigger",
                    {"fingerprint": record.fingerprint, "certificateType": certificate_type,
                     "subject": record.subject,
                     "notAfter": record.not_after.isoformat()}))
        return created

    async def pnc_stations(self) -> list[str]:
        """Stations that do Plug&Charge: the hub issued them a V2G or station certificate,
        they have SECC IDs, or they reported certificates."""
        rows = PncInstalledCertificate.__table__
        async with self.pnc.hub.engine.connect() as conn:
            ids = set((await conn.execute(sa.select(PkiCertificate.station_id).where(
                PkiCertificate.station_id.is_not(None),
                PkiCertificate.role.in_(list(RENEWED_ROLES))).distinct())).scalars())
            ids |= set((await conn.execute(sa.select(StationSeccId.station_id).distinct())
                        ).scalars())
            ids |= set((await conn.execute(sa.select(rows.c.station_id).distinct())
                        ).scalars())
        return sorted(ids)

    async def rollout(self, fingerprints: list[str] | None = None,
                      stations: list[str] | None = None) -> list[int]:
        """An install job per (station, anchor) not known to be installed."""
        now = utcnow()
        anchors = []
        for role in self.pnc.settings.rollout_roots:
            for record in await self.pnc.store.find_certificates(role=role):
                if record.revoked_at is None and record.not_before <= now < record.not_after \
                        and (fingerprints is None or record.fingerprint in fingerprints):
                    anchors.append(record)
        created = []
        for station_id in stations if stations is not None else await self.pnc_stations():
            for record in anchors:
                if await inventory.is_installed(self.pnc, station_id, record.fingerprint):
                    continue
                created.append(await self.pnc.jobs.ensure(
                    "install_root", f"install:{station_id}:{record.fingerprint}", station_id,
                    "install", {"fingerprint": record.fingerprint, "certificateType": record.role,
                                "subject": record.subject}, delay=dt.timedelta()))
        return created

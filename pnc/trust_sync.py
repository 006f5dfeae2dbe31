"""Trust anchors from the root certificate pool: a sync every ``rcp_sync_interval_seconds`` and
whenever an OPCP webhook says the pool changed.

- A V2G or MO root new in the pool is stored as a trust anchor (``pnc_rcp_roots`` remembers it
  came from the pool), the validator reloads, and the lifecycle's ``install_root`` jobs roll it
  out to every Plug&Charge station.
- A pool root that expired, was revoked (webhook ``root.cert.revoked``) or left the pool is
  withdrawn: marked revoked in the certificate store, so that the validator, the rollout and the
  OCSP allow-list drop it, and a ``delete_root`` job sends DeleteCertificate to every station
  known to hold it.

Only roots the pool listed are ever withdrawn by absence: roots the operator imported by hand and
the hub's own CAs are the operator's business. A root type whose read failed withdraws nothing.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from certs.roles import CertificateRole
from certs.store import record_certificate
from hub.db.base import utcnow
from hub.db.upsert import upsert
from pnc.models import EXPIRED, REMOVED, REVOKED, TRUSTED, PncInstalledCertificate, PncRcpRoot
from pnc.opcp import OpcpError
from pnc.rcp import PoolRoot, RootCertificatePool

if TYPE_CHECKING:
    from pnc.runtime import Pnc

log = logging.getLogger(__name__)
ROOTS = PncRcpRoot.__table__
INSTALLED = PncInstalledCertificate.__table__
ROLE_OF = {"V2G": str(CertificateRole.V2G_ROOT), "MO": str(CertificateRole.MO_ROOT)}
#: RFC 5280 reason recorded in the store when a pool root is withdrawn.
STORE_REASON = {REVOKED: "cACompromise", EXPIRED: "cessationOfOperation",
                REMOVED: "cessationOfOperation"}


@dataclass
class SyncResult:
    added: list[str] = field(default_factory=list)
    withdrawn: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    rollout_jobs: int = 0
    delete_jobs: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"added": self.added, "withdrawn": self.withdrawn, "failed": self.failed,
                "rolloutJobs": self.rollout_jobs, "deleteJobs": self.delete_jobs}


class TrustSync:
    def __init__(self, pnc: Pnc, pool: RootCertificatePool | None) -> None:
        self.pnc = pnc
        self.pool = pool
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.last: dict[str, Any] = {}

    def start(self) -> None:
        if self.pool is not None:
            self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def request(self) -> None:
        """Sync soon (a webhook said the pool changed)."""
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            try:
                await self.sync()
            except Exception:
                log.exception("the root certificate pool sync failed")
            try:
                async with asyncio.timeout(self.pnc.settings.rcp_sync_interval_seconds):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()

    async def sync(self) -> SyncResult:
        result = SyncResult()
        async with self._lock:
            if self.pool is not None:
                for root_type in self.pnc.settings.rcp_root_types:
                    try:
                        roots = await self.pool.roots(root_type)
                    except OpcpError as exc:
                        log.warning("RCP: reading the %s roots failed: %s", root_type, exc)
                        result.failed[root_type] = str(exc)
                        continue
                    await self._take(root_type, roots, result)
            await self._expire(result)
            await self._apply(result)
        self.last = {"at": utcnow().isoformat(), **result.to_json()}
        return result

    async def _take(self, root_type: str, roots: list[PoolRoot], result: SyncResult) -> None:
        now = utcnow()
        listed = {r.fingerprint for r in roots}
        for root in roots:
            stored = await self.pnc.store.get_certificate(root.fingerprint)
            if stored is not None and stored.revoked_at is not None:
                continue  # withdrawn once (revoked): a pool listing does not bring it back
            if stored is None:
                await record_certificate(self.pnc.store, root.certificate, ROLE_OF[root_type])
            async with self.pnc.hub.committer.transaction() as conn:
                known = (await conn.execute(sa.select(ROOTS.c.state).where(
                    ROOTS.c.fingerprint == root.fingerprint))).scalar()
                await upsert(conn, ROOTS, [{
                    "fingerprint": root.fingerprint, "root_type": root_type,
                    "root_certificate_id": root.root_certificate_id, "state": TRUSTED,
                    "first_seen_at": now, "last_seen_at": now}], ("fingerprint",),
                    update=["root_certificate_id", "last_seen_at"])
            if known is None:
                result.added.append(root.fingerprint)
                log.info("RCP: new %s root %s (%s)", root_type,
                         root.certificate.subject.rfc4514_string(), root.fingerprint)
        async with self.pnc.hub.engine.connect() as conn:
            gone = (await conn.execute(sa.select(ROOTS.c.fingerprint).where(
                ROOTS.c.root_type == root_type, ROOTS.c.state == TRUSTED))).scalars().all()
        for fingerprint in gone:
            if fingerprint not in listed:
                await self.withdraw(fingerprint, REMOVED, "no longer in the root certificate "
                                    "pool", result)

    async def _expire(self, result: SyncResult) -> None:
        now = utcnow()
        async with self.pnc.hub.engine.connect() as conn:
            trusted = (await conn.execute(sa.select(ROOTS.c.fingerprint).where(
                ROOTS.c.state == TRUSTED))).scalars().all()
        for fingerprint in trusted:
            record = await self.pnc.store.get_certificate(fingerprint)
            if record is None or record.not_after <= now:
                await self.withdraw(fingerprint, EXPIRED, "expired", result)

    async def withdraw(self, fingerprint: str, state: str, reason: str,
                       result: SyncResult | None = None) -> bool:
        """Take a pool root out of trust; False if it is not a pool root or already out."""
        now = utcnow()
        async with self.pnc.hub.committer.transaction() as conn:
            changed = await conn.execute(sa.update(ROOTS).where(
                ROOTS.c.fingerprint == fingerprint, ROOTS.c.state == TRUSTED).values(
                state=state, withdrawn_at=now, reason=reason[:2000]))
        if changed.rowcount != 1:
            return False
        await self.pnc.store.revoke_certificate(fingerprint, revoked_at=now,
                                                reason=STORE_REASON[state])
        log.warning("RCP: root %s withdrawn from trust (%s: %s)", fingerprint, state, reason)
        if result is not None:
            result.withdrawn[fingerprint] = state
        return True

    async def withdraw_event(self, payload: dict[str, Any], state: str) -> SyncResult:
        """A webhook named a root revoked or expired: withdraw it now (by fingerprint or by
        the pool's id), before the next read of the pool."""
        result = SyncResult()
        fingerprint = str(payload.get("fingerprintSHA256") or "").lower().replace(":", "")
        root_id = payload.get("rootCertificateId")
        async with self.pnc.hub.engine.connect() as conn:
            rows = (await conn.execute(sa.select(ROOTS.c.fingerprint).where(sa.or_(
                ROOTS.c.fingerprint == fingerprint,
                ROOTS.c.root_certificate_id == str(root_id or "-"))))).scalars().all()
        async with self._lock:
            for row in rows:
                await self.withdraw(row, state, f"webhook root.cert.{state}", result)
            await self._apply(result)
        return result

    async def _apply(self, result: SyncResult) -> None:
        """Reload trust; install what is new, delete what was withdrawn, on every station."""
        if not result.added and not result.withdrawn:
            return
        await self.pnc.reload_pki(force=True)
        if result.added and self.pnc.settings.auto_rollout:
            result.rollout_jobs = len(await self.pnc.lifecycle.rollout(result.added))
        if result.withdrawn:
            result.delete_jobs = len(await self.delete_from_stations(list(result.withdrawn)))
        self.pnc.jobs.wake()

    async def delete_from_stations(self, fingerprints: list[str]) -> list[int]:
        """A ``delete_root`` job per station known to hold one of these roots."""
        async with self.pnc.hub.engine.connect() as conn:
            rows = (await conn.execute(sa.select(INSTALLED.c.station_id,
                                                 INSTALLED.c.fingerprint).where(
                INSTALLED.c.fingerprint.in_(fingerprints)).distinct())).all()
        return [await self.pnc.jobs.ensure(
            "delete_root", f"delete:{row.station_id}:{row.fingerprint}", row.station_id,
            "delete", {"fingerprint": row.fingerprint}, reopen=True) for row in rows]

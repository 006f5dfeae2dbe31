"""Jobs: the Plug&Charge work the hub must finish with a station, kept in ``pnc_jobs`` so that
it survives restarts, runs once across nodes (a lease), and can be listed (pending, failed, why).

Kinds and their steps:

- ``sign``: ``sign`` (the hub's CA or EST) -> ``deliver`` (CertificateSigned) -> done;
- ``renew``: ``trigger`` (TriggerMessage SignV2GCertificate / SignChargingStationCertificate)
  -> ``await_csr`` -> ``signing`` (the station's CSR opened a ``sign`` job) -> done;
- ``install_root``: ``install`` (InstallCertificate of a trust anchor) -> done;
- ``delete_root``: ``delete`` (DeleteCertificate of a trust anchor withdrawn from trust, e.g. a
  root certificate pool root that was revoked or expired) -> done.

What each step does with the station is in ``pnc.job_kinds``; this module creates jobs, claims
their leases, runs them and writes back how each run ended.

A station that is offline does not use up attempts: its jobs wait and are woken when it
connects. Other failures are retried with exponential backoff up to ``max_attempts``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from hub.db.base import utcnow
from hub.events import StationBooted, StationConnected
from pnc.job_kinds import JobKinds, Outcome
from pnc.models import DONE, FAILED, OPEN_STATES, PENDING, WAITING, PncJob

if TYPE_CHECKING:
    from pnc.runtime import Pnc

log = logging.getLogger(__name__)
JOBS = PncJob.__table__
#: Before the after-answer hook runs it, a new sign job is not due: CertificateSigned must not
#: overtake the SignCertificate answer (the hook runs it at once; the poll loop is the backup).
SIGN_GRACE = dt.timedelta(seconds=2)
#: At shutdown, how long handing back the leases of cancelled jobs may take (a database that
#: does not answer must not hold the shutdown: the leases then simply run out).
RELEASE_LIMIT = 5.0


class Jobs:
    def __init__(self, pnc: Pnc) -> None:
        self.pnc = pnc
        self.settings = pnc.settings
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopped = False
        #: Jobs this runner has claimed and not finished: id -> the lease_until it wrote.
        self._leases: dict[int, dt.datetime] = {}
        self._back_ids: set[str] | None = None
        self._back_write: asyncio.Future[None] | None = None
        self._limit = asyncio.Semaphore(8)
        self.lease = dt.timedelta(seconds=self.settings.command_timeout_seconds * 3 + 60)
        self.kinds = JobKinds(pnc)

    # -- creating jobs -------------------------------------------------------------------

    async def ensure(self, kind: str, key: str, station_id: str | None, step: str,
                     payload: dict[str, Any], *, delay: dt.timedelta | None = None,
                     reopen: bool = False) -> int:
        """The job with ``key``, created if absent (idempotent). ``reopen`` puts a finished
        job with this key back to work at ``step``."""
        now = utcnow()
        async with self.pnc.hub.committer.transaction() as conn:
            row = (await conn.execute(sa.select(JOBS.c.id, JOBS.c.state).where(
                JOBS.c.key == key))).first()
            if row is not None:
                if reopen and row.state not in OPEN_STATES:
                    await conn.execute(sa.update(JOBS).where(JOBS.c.id == row.id).values(
                        state=PENDING, step=step, attempts=0, payload=payload,
                        next_run_at=now + (delay or dt.timedelta()), last_error=None,
                        updated_at=now, finished_at=None))
                return int(row.id)
            try:
                return int((await conn.execute(sa.insert(JOBS).values(
                    kind=kind, key=key, station_id=station_id, state=PENDING, step=step,
                    attempts=0, payload=payload, next_run_at=now + (delay or dt.timedelta()),
                    created_at=now, updated_at=now).returning(JOBS.c.id))).scalar_one())
            except IntegrityError:
                pass
        async with self.pnc.hub.engine.connect() as conn:  # created concurrently elsewhere
            return int((await conn.execute(sa.select(JOBS.c.id).where(JOBS.c.key == key))
                        ).scalar_one())

    async def open_sign_job(self, station_id: str, csr_pem: str, certificate_type: str) -> int:
        digest = hashlib.sha256(csr_pem.encode()).hexdigest()[:32]
        payload: dict[str, Any] = {"csr": csr_pem, "certificateType": certificate_type}
        job_id = await self.ensure("sign", f"sign:{station_id}:{digest}", station_id, "sign",
                                   payload, delay=SIGN_GRACE, reopen=True)
        await self._link_renewal(station_id, certificate_type, job_id)
        return job_id

    async def _link_renewal(self, station_id: str, certificate_type: str, sign_job: int) -> None:
        """A CSR that answers a renewal's trigger: the renewal now waits for this sign job."""
        async with self.pnc.hub.committer.transaction() as conn:
            rows = (await conn.execute(sa.select(JOBS.c.id, JOBS.c.payload).where(
                JOBS.c.kind == "renew", JOBS.c.station_id == station_id,
                JOBS.c.state.in_(OPEN_STATES), JOBS.c.step.in_(("trigger", "await_csr"))))
            ).all()
            for row in rows:
                if row.payload.get("certificateType") != certificate_type:
                    continue
                self.kinds.forget_trigger(row.id)
                await conn.execute(sa.update(JOBS).where(
                    JOBS.c.id == row.id, JOBS.c.step.in_(("trigger", "await_csr"))).values(
                    step="signing", state=WAITING, payload={**row.payload, "signJob": sign_job},
                    next_run_at=utcnow() + dt.timedelta(seconds=self.settings.csr_wait_seconds),
                    updated_at=utcnow()))
                await self._merge_payload(conn, sign_job, {"renewJob": row.id})

    @staticmethod
    async def _merge_payload(conn: Any, job_id: int, extra: dict[str, Any]) -> None:
        payload = (await conn.execute(sa.select(JOBS.c.payload).where(JOBS.c.id == job_id))
                   ).scalar_one()
        await conn.execute(sa.update(JOBS).where(JOBS.c.id == job_id).values(
            payload={**payload, **extra}))

    # -- running -------------------------------------------------------------------------

    def start(self) -> None:
        self.pnc.hub.bus.subscribe(StationConnected, self._station_back)
        self.pnc.hub.bus.subscribe(StationBooted, self._station_back)
        self._loop_task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        self._stopped = True
        if self._loop_task is not None:
            self._loop_task.cancel()
        tasks = [t for t in [self._loop_task, *self._tasks] if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._release_leases()

    async def _release_leases(self) -> None:
        """Hand back the leases of the jobs cancelled mid-run, so that the next start (of this
        node or another) runs them at once rather than once the lease (minutes) ran out. Only
        leases still as this runner wrote them: one that ran out may belong to another node.
        Best effort: without the database the leases run out, as after a crash."""
        held, self._leases = self._leases, {}
        if not held:
            return
        try:
            async with asyncio.timeout(RELEASE_LIMIT):
                async with self.pnc.hub.engine.begin() as conn:
                    for job_id, until in held.items():
                        await conn.execute(sa.update(JOBS).where(
                            JOBS.c.id == job_id, JOBS.c.lease_until == until).values(
                            lease_until=None))
        except Exception:  # TimeoutError too
            log.warning("could not hand back the leases of %d Plug&Charge job(s) at shutdown; "
                        "they run again once their lease ends", len(held), exc_info=True)

    def wake(self) -> None:
        self._wake.set()

    async def _station_back(self, event: StationConnected | StationBooted) -> None:
        # In a reconnect storm every station connects and boots at once: the stations back in
        # the same moment share one UPDATE, committed with the hub's other writes (group
        # commit), instead of a transaction each. Each caller returns once its own is committed.
        if self._back_ids is None:
            self._back_ids = set()
            self._back_write = asyncio.ensure_future(self._reschedule_back(self._back_ids))
        self._back_ids.add(event.station_id)
        await asyncio.shield(self._back_write)
        self.wake()

    async def _reschedule_back(self, station_ids: set[str]) -> None:
        await asyncio.sleep(0)  # the other stations of this moment join the set
        self._back_ids = None

        async def work(conn: Any) -> None:
            ids = sorted(station_ids)
            for start in range(0, len(ids), 500):  # bound the statement's parameters
                await conn.execute(sa.update(JOBS).where(
                    JOBS.c.station_id.in_(ids[start:start + 500]),
                    JOBS.c.state.in_(OPEN_STATES),
                    sa.or_(JOBS.c.step != "signing", JOBS.c.kind != "renew"),
                ).values(next_run_at=utcnow()))

        await self.pnc.hub.committer.run(work)

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_due()
            except Exception:
                log.exception("the Plug&Charge job runner failed; trying again")
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can turn a cancel that
            # meets its timeout into TimeoutError, and stop() then waits forever.
            try:
                async with asyncio.timeout(self.settings.job_poll_seconds):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()

    async def run_due(self) -> None:
        now = utcnow()
        async with self.pnc.hub.engine.connect() as conn:
            ids = (await conn.execute(sa.select(JOBS.c.id).where(
                JOBS.c.state.in_(OPEN_STATES), JOBS.c.next_run_at <= now,
                sa.or_(JOBS.c.lease_until.is_(None), JOBS.c.lease_until < now),
            ).order_by(JOBS.c.next_run_at).limit(100))).scalars().all()
        for job_id in ids:
            self._spawn(self.run_now(job_id))

    async def run_soon(self, job_id: int) -> None:
        """Run a job now, as a task of this runner (for hooks that are not): stop() cancels
        it and hands its lease back, instead of it running on past the shutdown."""
        self._spawn(self.run_now(job_id))

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        if self._stopped:  # the next start's poll runs it
            coro.close()
            return
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run_now(self, job_id: int) -> None:
        """Run one job if it is open and nobody holds it; never raises."""
        async with self._limit:
            try:
                await self._run(job_id)
            except Exception:
                log.exception("Plug&Charge job %s failed unexpectedly", job_id)
                await self._finish_row(job_id, None, Outcome(
                    PENDING, delay=self.settings.retry_max_seconds, attempt=True,
                    error="internal error (see the hub's log)"))

    async def _run(self, job_id: int) -> None:
        now = utcnow()
        until = now + self.lease
        # Leases are claimed, written back and handed back on the engine, each in a short
        # transaction of its own (docs/architecture.md: the runner relies on when each commits).
        async with self.pnc.hub.engine.begin() as conn:
            claimed = await conn.execute(sa.update(JOBS).where(
                JOBS.c.id == job_id, JOBS.c.state.in_(OPEN_STATES),
                sa.or_(JOBS.c.lease_until.is_(None), JOBS.c.lease_until < now),
            ).values(lease_until=until))
            if claimed.rowcount != 1:
                return
            # Before the commit: a cancel that lands in it leaves the lease held.
            self._leases[job_id] = until
            job = (await conn.execute(sa.select(JOBS).where(JOBS.c.id == job_id))).one()
        outcome = await self.kinds.handlers[job.kind](job)
        await self._finish_row(job_id, job, outcome)

    async def _finish_row(self, job_id: int, job: Any, outcome: Outcome) -> None:
        now = utcnow()
        async with self.pnc.hub.engine.begin() as conn:
            current = (await conn.execute(sa.select(JOBS).where(JOBS.c.id == job_id))).first()
            if current is None:
                return
            if job is not None and current.step != job.step:
                # Moved on while we ran (a CSR linked a renewal): keep what the other side
                # wrote, only hand the lease back.
                await conn.execute(sa.update(JOBS).where(JOBS.c.id == job_id).values(
                    lease_until=None))
                state: str | None = None
            else:
                state = await self._write_outcome(conn, current, outcome, now)
        self._leases.pop(job_id, None)  # committed: the lease is handed back
        if state == FAILED:
            log.warning("Plug&Charge job %s (%s, station %s) failed: %s", job_id,
                        current.kind, current.station_id, outcome.error)

    async def _write_outcome(self, conn: Any, current: Any, outcome: Outcome,
                             now: dt.datetime) -> str:
        """Record how a run ended (and hand the lease back); the job's new state."""
        job_id = current.id
        attempts = current.attempts + (1 if outcome.attempt else 0)
        state, delay = outcome.state, outcome.delay
        if outcome.attempt and state in OPEN_STATES:
            if attempts >= self.settings.max_attempts:
                state = FAILED
            else:
                delay = max(delay, min(self.settings.retry_base_seconds * 2 ** (attempts - 1),
                                       self.settings.retry_max_seconds))
        values: dict[str, Any] = {
            "state": state, "attempts": attempts, "lease_until": None, "updated_at": now,
            "last_error": outcome.error, "payload": {**current.payload, **outcome.payload},
            "next_run_at": now + dt.timedelta(seconds=delay) if state in OPEN_STATES
            else None}
        if outcome.step:
            values["step"] = outcome.step
        if state in (DONE, FAILED):
            values["finished_at"] = now
        await conn.execute(sa.update(JOBS).where(JOBS.c.id == job_id).values(**values))
        if state in (DONE, FAILED) and current.kind == "sign" and \
                current.payload.get("renewJob"):
            await self._sign_finished(conn, current.payload["renewJob"], state,
                                      outcome.error)
        return state

    async def _sign_finished(self, conn: Any, renew_id: int, state: str,
                             error: str | None) -> None:
        """A renewal's certificate was delivered (done) or could not be (back to trigger)."""
        now = utcnow()
        if state == DONE:
            await conn.execute(sa.update(JOBS).where(
                JOBS.c.id == renew_id, JOBS.c.state.in_(OPEN_STATES)).values(
                state=DONE, step="signing", finished_at=now, updated_at=now, next_run_at=None,
                last_error=None))
        else:
            await conn.execute(sa.update(JOBS).where(
                JOBS.c.id == renew_id, JOBS.c.state.in_(OPEN_STATES)).values(
                state=PENDING, step="trigger", attempts=JOBS.c.attempts + 1, updated_at=now,
                next_run_at=now + dt.timedelta(seconds=self.settings.retry_base_seconds),
                last_error=f"the new certificate could not be delivered: {error}"))

def job_json(row: Any) -> dict[str, Any]:
    """A job as the API shows it (the CSR and the chain are left out: they are long)."""
    payload = {k: v for k, v in (row.payload or {}).items() if k not in ("csr", "chain")}
    return {"id": row.id, "kind": row.kind, "stationId": row.station_id, "state": row.state,
            "step": row.step, "attempts": row.attempts, "nextRunAt": _iso(row.next_run_at),
            "lastError": row.last_error, "payload": payload, "createdAt": _iso(row.created_at),
            "updatedAt": _iso(row.updated_at), "finishedAt": _iso(row.finished_at)}


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None

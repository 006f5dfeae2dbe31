"""The outbox worker: drains the OICP rows of the outbox to Hubject, losing nothing.

- One task per lane (= Hubject operation): its requests go one after the other, oldest first,
  so one operation's pushes are sequential (Hubject requires it) and per-EVSE / per-session
  order holds.
- Status rows are coalesced: per EVSE only the newest pending status is sent (latest wins), many
  EVSEs per PushEvseStatus request; the older rows are marked superseded. A status Hubject
  already has from this worker is not sent again.
- Timeouts, connection errors, 5xx, 429 (honouring Retry-After) and Hubject system errors are
  retried with tenacity and exponential back-off; after ``retry_attempts`` the lane writes the
  failure to the rows and waits (back-off growing up to ``retry_max``), then tries again -
  forever: rows stay in the database across restarts and outages.
- A request Hubject refuses for good (``Result: false`` with a non-transient code, HTTP 4xx) is
  finished with ``last_error = "rejected: ..."``; a refused multi-EVSE status batch is retried
  record by record so that one bad EvseID does not take the others with it.
- On PostgreSQL an advisory lock makes one hub node the drainer (the others stand by).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from hub.db.base import utcnow
from hub.db.models import OutboxMessage
from oicp import messages, outbox
from oicp.client import Ack, HubjectClient, Operation, RejectedError, TransientError

if TYPE_CHECKING:
    from oicp.runtime import OicpRuntime

log = logging.getLogger(__name__)

LANE_OPERATIONS = {
    outbox.STATUS: Operation.PushEvseStatus,
    outbox.NOTIFICATION: Operation.ChargingNotifications,
    outbox.CDR: Operation.ChargeDetailRecord,
    outbox.EVSE_DATA: Operation.PushEvseData,
    outbox.PRICING: Operation.PushEVSEPricing,
}
ADVISORY_LOCK_KEY = 0x0_1C9_0_0B0  # "oicp outbox", any constant shared by all nodes
UPDATE_CHUNK = 500


class OutboxWorker:
    def __init__(self, runtime: OicpRuntime, client: HubjectClient) -> None:
        self.rt = runtime
        self.hub = runtime.hub
        self.config = runtime.config
        self.client = client
        self._events = {lane: asyncio.Event() for lane in outbox.LANES}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._lock_conn: AsyncConnection | None = None
        self._failures = collections.Counter[str]()
        # Outcome of recently finished rows, for callers that wait on one (legacy routes).
        self._results: collections.OrderedDict[int, dict[str, Any]] = collections.OrderedDict()
        self._waiters: dict[int, list[asyncio.Future[dict[str, Any]]]] = {}
        self.sent = collections.Counter[str]()
        self.delivered = collections.Counter[str]()
        self.coalesced = 0
        self.unchanged = 0
        # EvseID -> the status Hubject accepted last from this process (one drainer at a time).
        self._last_pushed: dict[str, str] = {}
        self.rejected = collections.Counter[str]()
        self.retries = collections.Counter[str]()
        self.active = False
        # Per lane: when the last "failing" warning was logged, and failures since then.
        self._warned_at: dict[str, float] = {}
        self._unwarned = collections.Counter[str]()

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        self._stopping.clear()
        self._tasks = [asyncio.create_task(self._run(), name="oicp-outbox")]

    async def stop(self, grace: float = 3.0) -> None:
        """Let the lanes finish what they are doing (a request, a database write) and leave;
        cancel whatever is still busy after ``grace`` seconds. Cancelling a lane in the middle
        of a database call would leave its connection to be cleaned up after the engine is
        gone."""
        self._stopping.set()
        self.wake()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=grace)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._lock_conn is not None:
            with contextlib.suppress(Exception):
                await self._lock_conn.close()
            self._lock_conn = None

    def wake(self) -> None:
        for event in self._events.values():
            event.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def sleep(self, seconds: float) -> None:
        """Sleep, but wake up at once when the worker stops."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _run(self) -> None:
        await self._become_drainer()
        if self._stopping.is_set():
            return
        self.active = True
        lanes = [asyncio.create_task(self._lane(lane), name=f"oicp-{lane}")
                 for lane in outbox.LANES]
        try:
            await asyncio.gather(*lanes)
        finally:
            for task in lanes:
                task.cancel()
            await asyncio.gather(*lanes, return_exceptions=True)

    async def _become_drainer(self) -> None:
        """PostgreSQL: hold an advisory lock for as long as this node drains the outbox."""
        if self.hub.engine.dialect.name != "postgresql":
            return
        while True:
            conn = await self.hub.engine.connect()
            got = (await conn.execute(sa.select(sa.func.pg_try_advisory_lock(
                ADVISORY_LOCK_KEY)))).scalar()
            await conn.commit()
            if got:
                self._lock_conn = conn
                return
            await conn.close()
            await self.sleep(max(1.0, self.config.poll_interval * 5))
            if self._stopping.is_set():
                return

    async def _lane(self, lane: str) -> None:
        event = self._events[lane]
        while not self._stopping.is_set():
            event.clear()
            try:
                progressed = await (self._drain_status() if lane == outbox.STATUS
                                    else self._drain_one(lane))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("OICP outbox lane %s failed; retrying", lane)
                progressed = False
                await self.sleep(self.config.poll_interval)
            if progressed:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), self.config.poll_interval)

    # -- reading and finishing rows ------------------------------------------------------------

    async def _pending(self, lane: str, limit: int) -> Sequence[Any]:
        async with self.hub.engine.connect() as conn:
            return (await conn.execute(
                sa.select(OutboxMessage.id, OutboxMessage.ordering_key, OutboxMessage.payload,
                          OutboxMessage.attempts, OutboxMessage.next_attempt_at)
                .where(outbox.lane_filter(lane)).order_by(OutboxMessage.id).limit(limit)
            )).all()

    async def _wait_until_due(self, rows: Sequence[Any]) -> bool:
        """Honour a back-off written before (e.g. by a previous process). True = waited."""
        due = max((r.next_attempt_at for r in rows if r.next_attempt_at), default=None)
        delay = (due - utcnow()).total_seconds() if due else 0
        if delay > 0:
            await self.sleep(min(delay, self.config.retry_max))
            return True
        return False

    async def _finish(self, ids: list[int], note: str | None = None) -> None:
        now = utcnow()
        for start in range(0, len(ids), UPDATE_CHUNK):
            chunk = ids[start:start + UPDATE_CHUNK]

            async def work(conn: AsyncConnection, chunk: list[int] = chunk) -> None:
                await conn.execute(sa.update(OutboxMessage).where(OutboxMessage.id.in_(chunk))
                                   .values(delivered_at=now, last_error=note))

            await self.hub.committer.run(work)

    async def _postpone(self, ids: list[int], tries: int, error: Exception, lane: str) -> float:
        self._failures[lane] += 1
        delay = min(self.config.retry_max,
                    self.config.retry_initial * 2 ** min(self._failures[lane], 30))
        if isinstance(error, TransientError) and error.retry_after:
            delay = max(delay, min(error.retry_after, self.config.retry_max))
        when = utcnow() + timedelta(seconds=delay)
        for start in range(0, len(ids), UPDATE_CHUNK):
            chunk = ids[start:start + UPDATE_CHUNK]

            async def work(conn: AsyncConnection, chunk: list[int] = chunk) -> None:
                await conn.execute(sa.update(OutboxMessage).where(OutboxMessage.id.in_(chunk))
                                   .values(attempts=OutboxMessage.attempts + tries,
                                           next_attempt_at=when, last_error=str(error)[:1000]))

            await self.hub.committer.run(work)
        self._log_failure(lane, error, len(ids), delay)
        return delay

    def _log_failure(self, lane: str, error: Exception, rows: int, delay: float) -> None:
        """A warning at most once per ``retry_warning_interval`` per lane (Hubject can be
        unreachable for hours; the rows are safe meanwhile), DEBUG in between."""
        now = asyncio.get_running_loop().time()
        last = self._warned_at.get(lane)
        if last is not None and now - last < self.config.retry_warning_interval:
            self._unwarned[lane] += 1
            log.debug("OICP %s: %s; %d row(s) wait %.1fs", lane, error, rows, delay)
            return
        quiet = self._unwarned.pop(lane, 0)
        self._warned_at[lane] = now
        log.warning("OICP %s: %s; %d row(s) wait %.1fs (retried with back-off; next warning "
                    "for this lane in %.0f min at the earliest%s)", lane, error, rows, delay,
                    self.config.retry_warning_interval / 60,
                    f"; {quiet} failure(s) since the last one" if quiet else "")

    def _recovered(self, lane: str) -> None:
        if self._warned_at.pop(lane, None) is not None:
            log.info("OICP %s: delivering again", lane)
        self._unwarned.pop(lane, None)
        self._failures[lane] = 0

    def _resolve(self, row_id: int, result: dict[str, Any]) -> None:
        self._results[row_id] = result
        while len(self._results) > 1000:
            self._results.popitem(last=False)
        for future in self._waiters.pop(row_id, []):
            if not future.done():
                future.set_result(result)

    async def wait_for(self, row_id: int, timeout: float) -> dict[str, Any] | None:
        """The outcome of one queued row ({"delivered": bool, "answer"|"error": ...}), or
        None if it is still queued after ``timeout`` seconds."""
        if row_id in self._results:
            return self._results[row_id]
        future = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(row_id, []).append(future)
        self.wake()
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return None
        finally:
            waiters = self._waiters.get(row_id, [])
            if future in waiters:
                waiters.remove(future)

    # -- sending -------------------------------------------------------------------------------

    def _wait(self, state: RetryCallState) -> float:
        delay = min(self.config.retry_max,
                    self.config.retry_initial * 2 ** (state.attempt_number - 1))
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, TransientError) and error.retry_after:
            delay = max(delay, min(error.retry_after, self.config.retry_max))
        return delay

    async def _send(self, operation: Operation, body: dict[str, Any]) -> tuple[Ack, int]:
        """Send with in-process retries; returns (ack, tries). Raises the last error."""
        tries = 0
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(TransientError), wait=self._wait,
            stop=stop_after_attempt(self.config.retry_attempts), reraise=True,
        ):
            with attempt:
                tries += 1
                if tries > 1:
                    self.retries[operation.name] += 1
                self.sent[operation.name] += 1
                try:
                    return await self.client.acknowledge(operation, body), tries
                except (TransientError, RejectedError) as error:
                    error.tries = tries  # type: ignore[attr-defined]
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _drain_one(self, lane: str) -> bool:
        rows = await self._pending(lane, 1)
        if not rows:
            return False
        if await self._wait_until_due(rows):
            return True
        row = rows[0]
        if row.ordering_key == outbox.EVSE_DATA_SYNC:
            return await self._sync_evse_data()
        payload = row.payload
        operation = Operation[payload["operation"]] if "operation" in payload \
            else LANE_OPERATIONS[lane]
        await self._deliver(lane, operation, payload.get("body", payload), [row.id])
        return True

    async def _sync_evse_data(self) -> bool:
        """Requests for a fullLoad at the head of the lane: one push of the EVSE data as it is
        now answers all of them (each was committed before this reads the data)."""
        rows = await self._pending(outbox.EVSE_DATA, 1000)
        ids = [r.id for r in itertools.takewhile(
            lambda r: r.ordering_key == outbox.EVSE_DATA_SYNC, rows)]
        body, skipped = await self.rt.evse_data_body("fullLoad")
        if skipped:
            log.warning("OICP EVSE data: %d EVSE(s) left out: %s", len(skipped),
                        "; ".join(f"{k}: {v}" for k, v in list(skipped.items())[:10]))
        if body is None:
            # Never a fullLoad of nothing: Hubject would delete every EVSE of the operator.
            await self._finish(ids, "nothing to publish: no EVSE with complete data")
            return True
        await self._deliver(outbox.EVSE_DATA, Operation.PushEvseData, body, ids)
        return True

    async def _deliver(self, lane: str, operation: Operation, body: dict[str, Any],
                       ids: list[int]) -> None:
        """Send one request for the rows ``ids`` and record the outcome on them."""
        try:
            ack, _ = await self._send(operation, body)
        except TransientError as error:
            delay = await self._postpone(ids, getattr(error, "tries", 1), error, lane)
            await self.sleep(delay)
            return
        except RejectedError as error:
            self._failures[lane] = 0
            self.rejected[operation.name] += 1
            await self._finish(ids, f"rejected: {error}"[:1000])
            for row_id in ids:
                self._resolve(row_id, {"delivered": False, "error": str(error),
                                       "answer": error.answer})
            return
        self._recovered(lane)
        self.delivered[operation.name] += 1
        await self._finish(ids)
        for row_id in ids:
            self._resolve(row_id, {"delivered": True, "answer": ack.raw})

    async def _drain_status(self) -> bool:
        rows = await self._pending(outbox.STATUS, self.config.status_batch_size * 10)
        if not rows:
            return False
        if await self._wait_until_due(rows):
            return True
        latest: dict[str, Any] = {}
        for row in rows:  # ascending id: the last row of each EVSE wins
            latest[row.ordering_key] = row
        chosen = sorted(latest.values(), key=lambda r: r.id)[:self.config.status_batch_size]
        keys = {r.ordering_key: r.id for r in chosen}
        superseded = [r.id for r in rows if r.ordering_key in keys and r.id < keys[r.ordering_key]]
        # Preparing -> Charging -> SuspendedEV are all "Occupied" to Hubject: what it already
        # shows is not sent again (it counts against the operator's rate limit).
        unchanged = [r for r in chosen
                     if self._last_pushed.get(r.payload["evse_id"]) == r.payload["status"]]
        if unchanged:
            await self._finish([r.id for r in unchanged], "unchanged since the last push")
            self.unchanged += len(unchanged)
            chosen = [r for r in chosen if r not in unchanged]
            if not chosen:
                await self._supersede(superseded, keys)
                return True
        records = [(r.payload["evse_id"], r.payload["status"]) for r in chosen]
        body = messages.status_push(self.config.operator_id, self.config.operator_name, records)
        try:
            ack, _ = await self._send(Operation.PushEvseStatus, body)
        except TransientError as error:
            delay = await self._postpone([r.id for r in chosen] + superseded,
                                         getattr(error, "tries", 1), error, outbox.STATUS)
            await self.sleep(delay)
            return True
        except RejectedError as error:
            self._failures[outbox.STATUS] = 0
            if len(chosen) == 1:
                self.rejected[Operation.PushEvseStatus.name] += 1
                await self._finish([chosen[0].id], f"rejected: {error}"[:1000])
            else:
                await self._status_one_by_one(chosen)
            await self._supersede(superseded, keys)
            return True
        self._recovered(outbox.STATUS)
        self.delivered[Operation.PushEvseStatus.name] += len(chosen)
        await self._finish([r.id for r in chosen])
        self._pushed(chosen)
        for row in chosen:
            self._resolve(row.id, {"delivered": True, "answer": ack.raw})
        await self._supersede(superseded, keys)
        return True

    def _pushed(self, rows: Sequence[Any]) -> None:
        for row in rows:
            self._last_pushed[row.payload["evse_id"]] = row.payload["status"]

    async def _supersede(self, ids: list[int], keys: dict[str, int]) -> None:
        if ids:
            await self._finish(ids, "superseded by a newer status")
            self.coalesced += len(ids)

    async def _status_one_by_one(self, chosen: list[Any]) -> None:
        """A refused batch: find the record(s) Hubject refuses, deliver the rest."""
        for row in chosen:
            body = messages.status_push(self.config.operator_id, self.config.operator_name,
                                        [(row.payload["evse_id"], row.payload["status"])])
            try:
                ack, _ = await self._send(Operation.PushEvseStatus, body)
            except TransientError as error:
                # Left pending: the next round sends it again (order per EVSE still holds).
                await self._postpone([row.id], getattr(error, "tries", 1), error, outbox.STATUS)
                return
            except RejectedError as error:
                self.rejected[Operation.PushEvseStatus.name] += 1
                await self._finish([row.id], f"rejected: {error}"[:1000])
                continue
            self.delivered[Operation.PushEvseStatus.name] += 1
            await self._finish([row.id])
            self._pushed([row])
            self._resolve(row.id, {"delivered": True, "answer": ack.raw})

    def stats(self) -> dict[str, Any]:
        return {
            "active": self.active,
            "sent": dict(self.sent),
            "delivered": dict(self.delivered),
            "rejected": dict(self.rejected),
            "retries": dict(self.retries),
            "coalesced": self.coalesced,
            "unchanged": self.unchanged,
            "consecutive_failures": {k: v for k, v in self._failures.items() if v},
        }

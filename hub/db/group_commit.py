"""Group commit: many stations' writes share one database transaction.

A charger considers a message delivered once it has the CALLRESULT, so facts are committed
before the answer leaves. Committing each message alone would cap throughput at the disk's fsync
rate; instead every unit of work is queued, a writer takes everything queued so far, runs it in
one transaction, commits once, and then releases all the waiting callers.

If one unit of work fails, the batch is rolled back and each unit re-run in its own transaction,
so a bad message only fails itself. Units must therefore be plain database work without side
effects outside the transaction.

A unit declares the domain events it records: given up front (``run(events=...)``) or with
``emit(conn, event)`` from inside it. The committer runs each event's in-transaction hooks (the
bus's ``on_commit`` handlers, e.g. OICP outbox rows) in the unit's transaction, and publishes
the events, in order, only after that transaction committed; a unit that fails publishes
nothing and its hooks' rows roll back with it. No caller publishes a fact by hand.

Rows that need no answer from the database (meter values, the live readings) are passed as
``Write``s instead of being executed by the unit (or handed over from inside it with
``write_later``): the batch writes all units' rows of a table with one statement, which is what
makes a busy hub's commits cheap.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.db.sqlite_driver import writer_transaction
from hub.db.upsert import upsert, upsert_statement

log = logging.getLogger(__name__)
T = TypeVar("T")
UnitOfWork = Callable[[AsyncConnection], Awaitable[T]]


@dataclass(frozen=True)
class Write:
    """Rows for ``table``, written at the end of the batch with one statement per table.

    With ``upsert_key`` the rows replace existing ones with the same key, last one in the batch
    wins, and ``newer_than`` (a column name) keeps a stored row that is newer than the new one;
    ``update`` names the columns an existing row gets from the new one (default: all but the
    key). With ``update_key`` instead, the rows only UPDATE existing rows (matched on those
    columns; the other columns of each row are set, and ``assign``'s constants, which may name
    a key column: "clear it where it still holds this value"), after every insert and upsert
    of the batch.
    """

    table: sa.Table
    rows: Sequence[dict[str, Any]]
    upsert_key: tuple[str, ...] | None = None
    newer_than: str | None = None
    update: tuple[str, ...] | None = None
    update_key: tuple[str, ...] | None = None
    assign: tuple[tuple[str, Any], ...] = ()


class EventSink(Protocol):
    """What the committer needs of the event bus (hub.events.EventBus)."""

    def in_transaction_hooks(self, event_type: type) -> Sequence[
            Callable[[AsyncConnection, Any], Awaitable[None]]]: ...

    def publish(self, event: Any) -> None: ...


_Unit = tuple[UnitOfWork[Any] | None, Sequence[Write], Sequence[Any], "asyncio.Future[Any]"]
# Queued once per writer by stop(), behind every unit accepted before it.
_STOP = None


class GroupCommitter:
    def __init__(self, engine: AsyncEngine, *, max_batch: int = 500, writers: int = 1,
                 bus: EventSink | None = None) -> None:
        self._engine = engine
        self._bus = bus
        self._max_batch = max_batch
        self._writers = writers
        self._queue: asyncio.Queue[_Unit | None] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        # Counters for the monitoring API.
        self.batches = 0
        self.units = 0
        self.failures = 0
        self.last_batch_size = 0
        self.max_batch_seen = 0
        self.commit_seconds_total = 0.0

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        if not self._tasks:
            self._stopping = False
            self._tasks = [asyncio.create_task(self._writer()) for _ in range(self._writers)]

    async def stop(self) -> None:
        """Commit everything accepted so far (callers are waiting for those commits), then end
        the writers. They are asked, not cancelled: a cancel in the middle of a commit fails
        units that were promised one, and a driver call that is cancelled can surface as
        another error (SQLAlchemy invalidates the connection), which a writer cannot tell from
        a failed batch. Cancelling stop() still cancels the writers."""
        self._stopping = True
        for _ in self._tasks:
            self._queue.put_nowait(_STOP)
        try:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        finally:
            self._tasks = []
            # Only left when stop() was cancelled: their callers get an error, not a hang.
            while not self._queue.empty():
                unit = self._queue.get_nowait()
                if unit is not _STOP:
                    self._fail(unit[3], RuntimeError("the group committer stopped"))

    async def run(self, work: UnitOfWork[T] | None = None, writes: Sequence[Write] = (),
                  events: Sequence[Any] = ()) -> T:
        """Run ``work`` and ``writes`` inside a shared transaction; return the result of
        ``work`` (None without one) once committed. ``events``: facts this unit records
        besides those ``work`` emits; their in-transaction hooks run after ``work``."""
        if not self._tasks:
            raise RuntimeError("GroupCommitter is not started")
        if self._stopping or not self._alive():
            # Never wait for a commit no writer will make (a hang of every charger call).
            raise RuntimeError("the group committer's writers have stopped")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((work, writes, events, future))
        return await future

    async def _writer(self) -> None:
        while True:
            unit = await self._queue.get()
            if unit is _STOP:
                return
            batch, stop = [unit], False
            while len(batch) < self._max_batch and not self._queue.empty():
                unit = self._queue.get_nowait()
                if unit is _STOP:
                    stop = True  # commit what this writer took, then end
                    break
                batch.append(unit)
            # A caller that gave up (cancelled) no longer needs its write.
            batch = [unit for unit in batch if not unit[3].cancelled()]
            if batch:
                await self._commit_or_fail(batch)
            if stop:
                return

    async def _commit_or_fail(self, batch: list[_Unit]) -> None:
        try:
            try:
                await self._commit(batch)
            except asyncio.CancelledError:
                if _cancel_requested():
                    raise  # a cancelled stop()
                # A cancellation from below (a driver future), not of this task: the batch
                # failed, but the writer must live on, or every later commit waits forever.
                log.error("a group commit of %d units was interrupted; failing them", len(batch))
                for unit in batch:
                    self._fail(unit[3], RuntimeError("the commit was interrupted"))
            except Exception as exc:
                log.exception("group commit writer error; failing %d units", len(batch))
                for unit in batch:
                    self._fail(unit[3], exc)
        finally:
            if _cancel_requested():
                # This writer was cancelled, but a library turned the CancelledError into
                # another error (or a unit swallowed it): honour it, or stop() waits forever.
                raise asyncio.CancelledError

    def _alive(self) -> bool:
        return any(not task.done() for task in self._tasks)

    async def _commit(self, batch: list[_Unit]) -> None:
        started = time.perf_counter()
        try:
            results, emitted = await self._run_batch(batch)
        except Exception as exc:
            if len(batch) == 1:
                await self._run_alone(batch[0], exc)
            else:
                log.warning("group commit of %d units failed; retrying one by one", len(batch))
                for unit in batch:
                    await self._run_alone(unit)
        else:
            self._publish(emitted)
            for unit, result in zip(batch, results, strict=True):
                self._resolve(unit[3], result)
        self.batches += 1
        self.units += len(batch)
        self.last_batch_size = len(batch)
        self.max_batch_seen = max(self.max_batch_seen, len(batch))
        self.commit_seconds_total += time.perf_counter() - started

    async def _run_batch(self, batch: Sequence[_Unit]) -> tuple[list[Any], list[Any]]:
        """(each unit's result, every event the units recorded, in order), committed."""
        async with self._engine.begin() as conn, writer_transaction(conn):
            # Every unit's rows, given up front or handed over with write_later, go out at the
            # end (or earlier, when a reader in the transaction asks: write_pending).
            pending: list[Write] = [w for _, writes, _, _ in batch for w in writes]
            emitted: list[Any] = []
            conn.info[_DEFERRED] = pending
            conn.info[_EVENTS] = (self._bus, emitted)
            try:
                results = []
                for work, _, events, _ in batch:
                    results.append(await work(conn) if work is not None else None)
                    for event in events:  # emit(), without a lookup per event
                        await self._run_hooks(conn, event)
                        emitted.append(event)
                await write_pending(conn)
            finally:
                # A cancelled driver call invalidates the connection, and then reading
                # conn.info raises PendingRollbackError, which would replace the
                # CancelledError; an invalidated connection's info is discarded anyway.
                if not conn.invalidated:
                    del conn.info[_DEFERRED]
                    del conn.info[_EVENTS]
            return results, emitted

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A transaction of its own, outside the batches, for writes no charger waits on
        whose errors are the caller's to answer (an API's 409, a job's lease): events
        emitted in it are published after it commits, none if it raises."""
        emitted: list[Any] = []
        async with self._engine.begin() as conn:
            conn.info[_EVENTS] = (self._bus, emitted)
            try:
                yield conn
            finally:
                if not conn.invalidated:
                    del conn.info[_EVENTS]
        self._publish(emitted)

    async def _run_hooks(self, conn: AsyncConnection, event: Any) -> None:
        if self._bus is None:
            raise RuntimeError("this group committer has no event bus")
        for hook in self._bus.in_transaction_hooks(type(event)):
            await hook(conn, event)

    def _publish(self, events: list[Any]) -> None:
        if events:
            assert self._bus is not None  # emit() refuses events without a bus
            try:
                for event in events:
                    self._bus.publish(event)
            except Exception:
                # Committed all the same: the callers must get their results, not a hang.
                log.exception("publishing %d committed events failed", len(events))

    async def _run_alone(self, unit: _Unit, failed: Exception | None = None) -> None:
        """Run one unit in its own transaction (``failed``: how it just failed alone).

        With several writers (PostgreSQL) a unit can conflict with a row another batch was
        committing at the same moment (a charger's repeated message on a new connection): run
        once more, it then sees that row and answers as the repeat it is."""
        if failed is not None and not (isinstance(failed, sa.exc.IntegrityError)
                                       and self._writers > 1):
            self._fail(unit[3], failed)
            return
        for attempt in (1, 2):
            try:
                (result,), emitted = await self._run_batch([unit])
            except sa.exc.IntegrityError as exc:
                if attempt == 1 and self._writers > 1 and failed is None:
                    continue
                self._fail(unit[3], exc)
                return
            except Exception as exc:
                self._fail(unit[3], exc)
                return
            self._publish(emitted)
            self._resolve(unit[3], result)
            return

    def _fail(self, future: asyncio.Future[Any], exc: Exception) -> None:
        self.failures += 1
        log.error("unit of work failed: %r", exc, exc_info=exc)
        if not future.done():
            future.set_exception(exc)

    @staticmethod
    def _resolve(future: asyncio.Future[Any], result: Any) -> None:
        if not future.done():
            future.set_result(result)

    def stats(self) -> dict[str, Any]:
        return {
            "queue_depth": self.queue_depth,
            "batches": self.batches,
            "units": self.units,
            "failures": self.failures,
            "last_batch_size": self.last_batch_size,
            "max_batch_size": self.max_batch_seen,
            "mean_batch_size": round(self.units / self.batches, 2) if self.batches else 0,
            "mean_commit_ms": round(1000 * self.commit_seconds_total / self.batches, 3)
            if self.batches
            else 0,
        }


_DEFERRED = "group_commit_deferred_writes"
_EVENTS = "group_commit_events"


def _cancel_requested() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def emit(conn: AsyncConnection, event: Any) -> None:
    """From inside a unit of work (or ``GroupCommitter.transaction``): record ``event``. Its
    in-transaction hooks run now, in this transaction, between the unit's statements where it
    is emitted (they may read what the unit wrote so far); it is published after the commit."""
    state = conn.info.get(_EVENTS)
    if state is None:
        raise RuntimeError("events are emitted by a unit of work run by the group committer")
    bus, emitted = state
    if bus is None:
        raise RuntimeError("this group committer has no event bus")
    for hook in bus.in_transaction_hooks(type(event)):
        await hook(conn, event)
    emitted.append(event)


async def write_later(conn: AsyncConnection, writes: Sequence[Write]) -> None:
    """From inside a unit of work: write ``writes`` with the rest of the batch's rows, at its
    end (or at ``write_pending``), one statement per table for all units: rows a unit only
    learns while it runs, e.g. under an id it looked up. Outside a group commit they are
    written at once."""
    deferred = conn.info.get(_DEFERRED)
    if deferred is None:
        await write_rows(conn, writes)
    else:
        deferred.extend(writes)


async def write_pending(conn: AsyncConnection) -> None:
    """Write the rows the batch holds so far, now: for code in the transaction that reads
    them back (e.g. a TransactionEnded hook reading the transaction's meter values)."""
    pending = conn.info.get(_DEFERRED)
    if pending:
        rows = list(pending)
        pending.clear()
        await write_rows(conn, rows)


async def write_rows(conn: AsyncConnection, writes: Sequence[Write]) -> None:
    """Write ``writes`` now, one statement per table (upserts deduplicated by key): inserts,
    then upserts, then updates."""
    inserts: dict[sa.Table, list[dict[str, Any]]] = {}
    upserts: dict[tuple[sa.Table, tuple[str, ...], str | None, tuple[str, ...] | None],
                  dict[tuple[Any, ...], Any]] = {}
    updates: dict[_UpdateShape, list[dict[str, Any]]] = {}
    for write in writes:
        if write.update_key is not None:
            for row in write.rows:
                columns = tuple(c for c in row if c not in write.update_key)
                shape = (write.table, write.update_key, columns, write.assign)
                updates.setdefault(shape, []).append(row)
            continue
        if write.upsert_key is None:
            inserts.setdefault(write.table, []).extend(write.rows)
            continue
        by_key = upserts.setdefault(
            (write.table, write.upsert_key, write.newer_than, write.update), {})
        for row in write.rows:
            by_key[tuple(row[k] for k in write.upsert_key)] = row
    for table, rows in inserts.items():
        if rows:
            await _insert(conn, table, rows)
    for (table, key, newer_than, update), rows_by_key in upserts.items():
        await _upsert(conn, table, list(rows_by_key.values()), key, newer_than, update)
    for (table, key, columns, assign), rows in updates.items():
        plan = _update_plan(conn.dialect, table, key, columns, assign)
        if plan is not None:
            await _driver_run(conn, plan, rows)
            continue
        await conn.execute(_update_statement(table, key, columns, assign), [
            {**{f"k_{k}": row[k] for k in key}, **{f"v_{c}": row[c] for c in columns}}
            for row in rows
        ])


async def _insert(conn: AsyncConnection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    if conn.dialect.name != "sqlite":
        await conn.execute(_insert_statement(table), rows)
        return
    for columns, same in _by_columns(rows):
        plan = _insert_plan(conn.dialect, table, columns)
        if plan is None:
            await conn.execute(_insert_statement(table), same)
        else:
            await _driver_run(conn, plan, same)


async def _upsert(conn: AsyncConnection, table: sa.Table, rows: list[dict[str, Any]],
                  key: tuple[str, ...], newer_than: str | None,
                  update: tuple[str, ...] | None) -> None:
    # One statement per set of columns on every backend: a statement takes one set
    # (PostgreSQL failed a batch whose rows left out different columns).
    for columns, same in _by_columns(rows):
        plan = _upsert_plan(conn.dialect, table, key, columns, update, newer_than)
        if plan is None:
            await upsert(conn, table, same, key=key, update=update, newer_than=newer_than)
        else:
            await _driver_run(conn, plan, same)


def _by_columns(rows: list[dict[str, Any]]) -> Any:
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        by_columns.setdefault(tuple(row), []).append(row)
    return by_columns.items()


# SQLite: (SQL text, a function of a row giving its values in the text's order, each through
# its column type's bind processor), or None when SQLAlchemy must write the rows itself. The
# rows then go to the driver as tuples in one executemany. SQLAlchemy's own executemany
# builds a parameter dict per row first (construct_params), which was a tenth of the hub's
# CPU under load: meter values, live readings and log rows are most of what a busy hub writes.
_Plan = tuple[str, Callable[[dict[str, Any]], tuple[Any, ...]]]


async def _driver_run(conn: AsyncConnection, plan: _Plan, rows: list[dict[str, Any]]) -> None:
    sql, values_of = plan
    await conn.exec_driver_sql(sql, [values_of(row) for row in rows])


_plans: dict[tuple[Any, ...], _Plan | None] = {}


def _plan(dialect: sa.Dialect, table: sa.Table, stmt: Any, columns: tuple[str, ...],
          column_of: Callable[[str], str], *, defaults_of_keys: bool = False,
          **compile_kw: Any) -> _Plan | None:
    """The plan of ``stmt``, whose bind parameters are the row's ``columns`` (named
    ``column_of`` them), or None: another dialect, a bind that is not a column of the row, a
    column SQLAlchemy would fill with a Python default (with ``defaults_of_keys``, primary
    key columns too: an upsert's key column left out takes its default, phase '' ...)."""
    if dialect.name != "sqlite":
        return None
    missing_default = any(
        c.name not in columns and c.default is not None
        and (defaults_of_keys or not c.primary_key)
        for c in table.columns)
    if missing_default or not all(c in table.c for c in columns):
        return None
    compiled = stmt.compile(dialect=dialect, **compile_kw)
    names = [column_of(name) for name in compiled.positiontup or ()]
    if not compiled.positional or sorted(names) != sorted(columns):
        return None
    processors = [table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in names]
    return str(compiled), _row_values(names, processors)


def _insert_plan(dialect: sa.Dialect, table: sa.Table, columns: tuple[str, ...]
                 ) -> _Plan | None:
    key = ("insert", dialect.name, table, columns)
    if key not in _plans:
        stmt = sa.insert(table).values({c: sa.bindparam(c) for c in columns})
        _plans[key] = _plan(dialect, table, stmt, columns, str)
    return _plans[key]


def _upsert_plan(dialect: sa.Dialect, table: sa.Table, key: tuple[str, ...],
                 columns: tuple[str, ...], update: tuple[str, ...] | None,
                 newer_than: str | None) -> _Plan | None:
    """``update`` None: the rows' columns but the key are updated, as ``upsert`` does."""
    cache_key = ("upsert", dialect.name, table, key, columns, update, newer_than)
    if cache_key not in _plans:
        updated = update if update is not None else tuple(c for c in columns if c not in key)
        stmt = upsert_statement(dialect.name, table, key, updated, newer_than)
        _plans[cache_key] = _plan(dialect, table, stmt, columns, str, defaults_of_keys=True,
                                  column_keys=list(columns))
    return _plans[cache_key]


def _update_plan(dialect: sa.Dialect, table: sa.Table, key: tuple[str, ...],
                 columns: tuple[str, ...], assign: tuple[tuple[str, Any], ...]
                 ) -> _Plan | None:
    cache_key = ("update", dialect.name, table, key, columns, assign)
    if cache_key not in _plans:
        # With assign's constants the statement has binds of its own: SQLAlchemy's.
        _plans[cache_key] = None if assign else _plan(
            dialect, table, _update_statement(table, key, columns), (*key, *columns),
            lambda name: name[2:])  # k_<column> and v_<column>
    return _plans[cache_key]


def _row_values(names: list[str], processors: list[Any]) -> Callable[[dict[str, Any]], tuple]:
    """A function of a row dict giving its values in ``names`` order, each through its bind
    processor (None: as it is). Generated as one tuple expression, as dataclasses generates
    __init__: rebuilding each row's tuple once per processed column cost a twentieth of the
    hub's CPU under load."""
    if not any(processors):
        # itemgetter of one name gives the value, not a 1-tuple
        return itemgetter(*names) if len(names) > 1 else (lambda row: (row[names[0]],))
    scope = {f"p{i}": process for i, process in enumerate(processors) if process is not None}
    items = [f"p{i}(row[{name!r}])" if processors[i] is not None else f"row[{name!r}]"
             for i, name in enumerate(names)]
    return eval(f"lambda row: ({', '.join(items)},)", scope)  # noqa: S307 - names are columns


_inserts: dict[sa.Table, sa.Insert] = {}


def _insert_statement(table: sa.Table) -> sa.Insert:
    # One statement object per table: SQLAlchemy then reuses its cache key and compiled form.
    stmt = _inserts.get(table)
    if stmt is None:
        stmt = _inserts[table] = sa.insert(table)
    return stmt


# (table, update_key, the rows' other columns, assign)
_UpdateShape = tuple[sa.Table, tuple[str, ...], tuple[str, ...], tuple[tuple[str, Any], ...]]
_updates: dict[_UpdateShape, sa.Update] = {}


def _update_statement(table: sa.Table, key: tuple[str, ...], columns: tuple[str, ...],
                      assign: tuple[tuple[str, Any], ...] = ()) -> sa.Update:
    shape = (table, key, columns, assign)
    stmt = _updates.get(shape)
    if stmt is None:
        # Bind names must differ from column names in an UPDATE's SET clause.
        stmt = _updates[shape] = sa.update(table).where(
            *(table.c[k] == sa.bindparam(f"k_{k}") for k in key)
        ).values({**{c: sa.bindparam(f"v_{c}") for c in columns}, **dict(assign)})
    return stmt

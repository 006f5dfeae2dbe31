"""SQLAlchemy's aiosqlite adapter with one thread hop per statement instead of four.

aiosqlite runs every sqlite3 call on its own thread. SQLAlchemy's adapter makes a call for each
step of a statement: create the cursor, execute, fetch the rows, close the cursor, each a
round trip to that thread (a future, a queue, a self-pipe wake-up of the event loop). On the
charger write path that was about 140 us of CPU per statement, against 15 us for the same
statement through SQLAlchemy's synchronous sqlite3 driver.

This adapter does the four steps in one call on aiosqlite's thread and hands SQLAlchemy a
cursor that already holds the rows. Everything else (the dialect, the pool, transactions,
commit and rollback, exceptions) stays SQLAlchemy's and aiosqlite's: it is passed to
``create_async_engine`` as the DBAPI ``module``, the documented seam for an alternate DBAPI.
"""

from __future__ import annotations

import collections
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.util import EMPTY_DICT


class _Outcome:
    """What SQLAlchemy reads from a cursor after a statement, captured on the worker thread."""

    __slots__ = ("arraysize", "description", "lastrowid", "rowcount")

    def __init__(self, description: Any = None, rowcount: int = -1,
                 lastrowid: int | None = None) -> None:
        self.description = description
        self.rowcount = rowcount
        self.lastrowid = lastrowid
        self.arraysize = 1

    def close(self) -> None:
        """The sqlite3 cursor was closed on the worker thread already."""


def _run(conn: sqlite3.Connection, operation: str, parameters: Any,
         many: bool) -> tuple[_Outcome, list[Any] | None]:
    """On aiosqlite's thread: one statement from cursor to closed cursor."""
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else None
        return _Outcome(description, cursor.rowcount, cursor.lastrowid), rows
    finally:
        cursor.close()


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ()
    # close() then calls _Outcome.close(): nothing to await.
    _awaitable_cursor_close = False

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        # No cursor is made here: _run makes (and closes) one per statement.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = _Outcome()  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        return await self._run(operation, parameters, many=False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        return await self._run(operation, seq_of_parameters, many=True)

    async def _run(self, operation: Any, parameters: Any, many: bool) -> None:
        connection = self._connection
        async with self._adapt_connection._execute_mutex:
            if self._adapt_connection.inline:
                outcome, rows = _run(connection._conn, operation, parameters, many)
            else:
                outcome, rows = await connection._execute(_run, connection._conn, operation,
                                                          parameters, many)
        self._cursor = outcome  # type: ignore[assignment]
        if rows is not None:
            self._rows = collections.deque(rows)


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("inline",)
    _cursor_cls = OneHopCursor

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        # True while this connection holds SQLite's write lock for a group commit: see
        # writer_transaction.
        self.inline = False

    def rollback(self) -> None:
        # The pool rolls back every connection it gets back, most of them just committed or
        # only read: no transaction, no trip to aiosqlite's thread. The connection is ours
        # (checked in), so nothing runs on it meanwhile.
        conn = self._connection._connection
        if conn is not None and not conn.in_transaction:
            return
        super().rollback()


class OneHopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        # SQLAlchemy's connect (aiosqlite's thread made a daemon, as it does), in our adapter.
        return OneHopConnection(self, super().connect(*arg, **kw)._connection)


def one_hop_dbapi() -> OneHopDBAPI:
    """The ``module`` to give ``create_async_engine`` for a ``sqlite+aiosqlite`` URL."""
    return OneHopDBAPI(aiosqlite, sqlite3)


@contextlib.asynccontextmanager
async def writer_transaction(conn: AsyncConnection) -> AsyncIterator[None]:
    """Inside ``engine.begin()``: take SQLite's write lock first (``BEGIN IMMEDIATE``, on
    aiosqlite's thread, where waiting for another writer blocks nobody), then run the
    transaction's statements on the event loop's thread, without a thread hop each.

    Holding the write lock, a statement cannot wait for another connection (WAL readers
    never block a writer), and its pages go to SQLite's cache and WAL without an fsync: it
    costs microseconds, less than the hop. The commit, where the fsync is, still runs on
    aiosqlite's thread. Other backends and drivers: nothing changes.
    """
    raw = await conn.get_raw_connection()
    adapted = raw.dbapi_connection
    if not isinstance(adapted, OneHopConnection):
        yield
        return
    await conn.exec_driver_sql("BEGIN IMMEDIATE")
    adapted.inline = True
    try:
        yield
    finally:
        adapted.inline = False

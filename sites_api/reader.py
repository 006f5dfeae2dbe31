"""Runs the read model's (synchronous) loaders against the hub's database.

On SQLite a page is read in one worker thread over a plain ``sqlite3`` engine: one thread hop
per request instead of several per query through aiosqlite, and the assembly of a large page
does not hold the event loop (the chargers' WebSockets share it). On PostgreSQL the loaders run
on the hub's async engine through ``run_sync``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.db import is_sqlite
from hub.feature_api import HUB

T = TypeVar("T")


class Reader:
    def __init__(self, engine: AsyncEngine) -> None:
        self.async_engine = engine
        self.engine: sa.Engine | None = None
        url = engine.url
        if is_sqlite(url) and url.database not in (None, "", ":memory:"):
            self.engine = sa.create_engine(
                url.set(drivername="sqlite"),
                connect_args={"timeout": 30, "check_same_thread": False},
                pool_size=4, max_overflow=4)

            @sa.event.listens_for(self.engine, "connect")
            def _read_only(dbapi_connection: Any, _record: Any) -> None:
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA busy_timeout=30000")
                cursor.execute("PRAGMA query_only=ON")  # this engine never writes
                cursor.close()

    async def run(self, loader: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``loader(connection, *args, **kwargs)`` in one read transaction."""
        if self.engine is not None:
            return await asyncio.to_thread(self._run_sync, loader, *args, **kwargs)
        async with self.async_engine.connect() as conn:
            return await conn.run_sync(lambda sync: loader(sync, *args, **kwargs))

    def _run_sync(self, loader: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        assert self.engine is not None
        with self.engine.connect() as conn:
            return loader(conn, *args, **kwargs)

    def dispose(self) -> None:
        if self.engine is not None:
            self.engine.dispose()


READER = web.AppKey("sites_reader", Reader)


@asynccontextmanager
async def _reader_lifetime(app: web.Application) -> AsyncIterator[None]:
    reader = Reader(app[HUB].engine)
    app[READER] = reader
    try:
        yield
    finally:
        reader.dispose()


def add_reader(app: web.Application) -> None:
    """Create the reader once the hub runtime exists (cleanup contexts run in order)."""
    app.cleanup_ctx.append(_reader_lifetime)

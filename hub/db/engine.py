"""Engine and session factory, with the per-backend settings that matter for durability."""

from __future__ import annotations

import os
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

from hub.db.sqlite_driver import one_hop_dbapi


def is_sqlite(url: str | sa.URL) -> bool:
    return sa.make_url(url).get_backend_name() == "sqlite"


# The database holds password and token hashes, sessions and ids: readable by the hub's user
# only. SQLite creates the -wal and -shm files with the database file's own permissions.
SQLITE_FILE_MODE = 0o600


def create_sqlite_file(url: str | sa.URL) -> None:
    """Create the SQLite database file (owner read/write only) if it does not exist yet, so
    that SQLite, which would create it with the process umask (usually 0644), finds it."""
    database = sa.make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    try:
        fd = os.open(database, os.O_CREAT | os.O_EXCL | os.O_WRONLY, SQLITE_FILE_MODE)
    except (FileExistsError, FileNotFoundError):
        return  # an existing database keeps its mode; a missing directory is SQLite's error
    os.close(fd)


def create_engine(
    url: str,
    *,
    echo: bool = False,
    pool_size: int = 10,
    sqlite_synchronous: str = "FULL",
) -> AsyncEngine:
    """Create the async engine. SQLite gets WAL, a busy timeout and foreign keys."""
    kwargs: dict[str, Any] = {"echo": echo, "pool_pre_ping": not is_sqlite(url)}
    if sa.make_url(url).database not in (None, "", ":memory:"):
        kwargs.update(pool_size=pool_size, max_overflow=pool_size)
    if is_sqlite(url):
        create_sqlite_file(url)
        # Connections above pool_size are closed on return; for aiosqlite each is a thread and
        # a file open, so the pool is sized to keep the hot path's reads on kept connections.
        kwargs["connect_args"] = {"timeout": 30}
        if sa.make_url(url).get_driver_name() == "aiosqlite":
            kwargs["module"] = one_hop_dbapi()
            # A group commit runs its statements on the event loop's thread (see
            # sqlite_driver.writer_transaction); aiosqlite's thread still opens, commits and
            # closes the connection, one call at a time.
            kwargs["connect_args"]["check_same_thread"] = False
    engine = _create_async_engine(url, **kwargs)

    if is_sqlite(url):
        synchronous = sqlite_synchronous.upper()
        if synchronous not in {"FULL", "NORMAL"}:
            raise ValueError("sqlite_synchronous must be FULL or NORMAL")

        @sa.event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            # WAL lets readers run beside the single writer; FULL makes each commit durable.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)

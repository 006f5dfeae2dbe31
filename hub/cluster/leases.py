"""Work that runs once per cluster: PostgreSQL session advisory locks held on one connection.

``await leases.lead("pnc-lifecycle")`` is True while this node holds the lease named so (taking
it if it is free). A lock lives as long as the connection that took it: when a node dies, the
database sees its connection close and the lease is free for the next node that asks; when
this node's connection breaks, every lease it held is gone with it, and it asks again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)
KEEPALIVE = {"tcp_keepalives_idle": 10, "tcp_keepalives_interval": 5, "tcp_keepalives_count": 3}


def lease_key(name: str) -> int:
    """A signed 64-bit advisory lock key for ``name`` (the same on every node)."""
    digest = hashlib.blake2b(f"pnc-hub:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class AdvisoryLeases:
    def __init__(self, engine: AsyncEngine, check_seconds: float = 5.0) -> None:
        self._engine = engine
        self._check_seconds = check_seconds
        self._conn: AsyncConnection | None = None
        self._held: set[str] = set()
        self._checked = 0.0
        self._lock = asyncio.Lock()

    @property
    def held(self) -> frozenset[str]:
        return frozenset(self._held)

    async def lead(self, name: str) -> bool:
        """True while this node holds the lease ``name``; takes it when it is free."""
        async with self._lock:
            try:
                conn = await self._connection()
                if name in self._held:
                    return True
                got = (await conn.execute(sa.select(sa.func.pg_try_advisory_lock(
                    lease_key(name))))).scalar()
                if got:
                    self._held.add(name)
                    log.info("this node now runs %s for the cluster", name)
                return bool(got)
            except Exception as exc:
                # The database is unreachable: this node leads nothing until it is back.
                await self._lost(exc)
                return False

    async def release(self, name: str) -> None:
        async with self._lock:
            if name not in self._held or self._conn is None:
                return
            self._held.discard(name)
            try:
                await self._conn.execute(sa.select(sa.func.pg_advisory_unlock(lease_key(name))))
            except Exception as exc:
                await self._lost(exc)

    async def close(self) -> None:
        async with self._lock:
            self._held.clear()
            if self._conn is not None:
                # Closed for real, not handed back to the pool: its locks go with it.
                with contextlib.suppress(Exception):
                    await self._conn.invalidate()
                with contextlib.suppress(Exception):
                    await self._conn.close()
                self._conn = None

    async def _connection(self) -> AsyncConnection:
        """The lease connection, re-checked every ``check_seconds`` (a broken one loses every
        lease, so it must be noticed before claiming to hold one)."""
        if self._conn is None:
            conn = await self._engine.connect()
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            # A node whose host vanishes (no FIN) frees its leases once PostgreSQL's keepalive
            # gives up on the connection: about 25 s, not the system's default of hours.
            for setting, value in KEEPALIVE.items():
                await conn.execute(sa.text(f"SET {setting} = {value}"))
            self._conn = conn
            self._checked = time.monotonic()
            return self._conn
        if time.monotonic() - self._checked >= self._check_seconds:
            await self._conn.execute(sa.text("SELECT 1"))
            self._checked = time.monotonic()
        return self._conn

    async def _lost(self, exc: Exception) -> None:
        if self._held:
            log.warning("the lease connection failed (%s); this node gives up %s", exc,
                        ", ".join(sorted(self._held)))
        self._held.clear()
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.invalidate()

"""Console login sessions, shared by every hub on the database (table ``console_sessions``).

The cookie (HttpOnly, SameSite=Strict, Secure over TLS) holds a random 256-bit id; the table
keeps only its SHA-256, with the user, the session's CSRF token, when it was opened and last
used, and the flash messages for the next page. Behind a load balancer any node serves any
request: nothing of a session lives only in one process.

A session ends after ``idle`` seconds without a request, after ``lifetime`` seconds whatever
happens, on logout, and as soon as its user is disabled. Each request reads its session and
user in one SELECT (by primary keys): the user had to be read on every request anyway, so
that a disabled user's session ends at once, and the same read makes a logout or a disabling
on one node take effect on every node with the next request, with no cache to invalidate
across nodes. Writes are few: ``last_used`` is written at most every ``touch_every`` seconds
(so a session may end up to that much before its idle time), a login writes one row and
prunes the expired ones, a flash message is written when added and cleared when shown.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.console.users import User
from hub.db.models_console import ConsoleLoginSession, ConsoleUser
from hub.openapi import CONSOLE_COOKIE

COOKIE = CONSOLE_COOKIE
# Before login: the double-submit CSRF token of the login and language forms.
PRE_COOKIE = "pnc_hub_console_pre"
IDLE_SECONDS = 30 * 60
LIFETIME_SECONDS = 12 * 3600
MAX_SESSIONS = 5000
TOUCH_SECONDS = 60.0
MAX_ID_LENGTH = 128

Sessions = async_sessionmaker[AsyncSession]
Flash = tuple[str, str, dict[str, object]]


def id_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass
class ConsoleSession:
    id: str  # the cookie's value: known only to this request, never stored
    user_id: int
    csrf: str
    opened_at: float
    last_used: float
    user: User | None = None
    # Messages for the next page (a command's answer, a saved form): (kind, text, values),
    # the text translated and formatted with the values when shown.
    flash: list[Flash] = field(default_factory=list)


class ConsoleSessions:
    """The store; ``db`` gives the hub's ORM session factory (the hub starts after the app
    is built), ``clock`` the wall clock in seconds (shared by every node)."""

    def __init__(self, db: Callable[[], Sessions], idle: float = IDLE_SECONDS,
                 lifetime: float = LIFETIME_SECONDS, limit: int = MAX_SESSIONS,
                 clock: Callable[[], float] = time.time,
                 touch_every: float | None = None) -> None:
        self.db = db
        self.idle = idle
        self.lifetime = lifetime
        self.limit = limit
        self.clock = clock
        # Never more than a tenth of the idle time: a session in use never looks idle.
        self.touch_every = min(TOUCH_SECONDS, idle / 10) if touch_every is None else touch_every

    def _at(self, seconds: float) -> datetime:
        return datetime.fromtimestamp(seconds, UTC)

    async def open(self, user_id: int) -> ConsoleSession:
        now = self.clock()
        session = ConsoleSession(secrets.token_urlsafe(32), user_id, secrets.token_urlsafe(32),
                                 now, now)
        async with self.db()() as db, db.begin():
            await self._prune(db, now)
            db.add(ConsoleLoginSession(id_hash=id_hash(session.id), user_id=user_id,
                                       csrf=session.csrf, opened_at=self._at(now),
                                       last_used=self._at(now)))
            await db.flush()
            await self._cap(db)
        return session

    async def _prune(self, db: AsyncSession, now: float) -> None:
        """Drop the sessions idle or open too long: a session nobody comes back for does not
        wait for ``limit`` to go."""
        await db.execute(sa.delete(ConsoleLoginSession).where(sa.or_(
            ConsoleLoginSession.last_used <= self._at(now - self.idle),
            ConsoleLoginSession.opened_at <= self._at(now - self.lifetime))))

    async def _cap(self, db: AsyncSession) -> None:
        """At most ``limit`` sessions: the least recently used go first."""
        count = (await db.execute(sa.select(sa.func.count()).select_from(
            ConsoleLoginSession))).scalar_one()
        if count <= self.limit:
            return
        oldest = (sa.select(ConsoleLoginSession.id_hash)
                  .order_by(ConsoleLoginSession.last_used, ConsoleLoginSession.opened_at)
                  .limit(count - self.limit))
        await db.execute(sa.delete(ConsoleLoginSession).where(
            ConsoleLoginSession.id_hash.in_(oldest.scalar_subquery())))

    async def count(self) -> int:
        async with self.db()() as db:
            return (await db.execute(sa.select(sa.func.count()).select_from(
                ConsoleLoginSession))).scalar_one()

    async def get(self, session_id: str) -> ConsoleSession | None:
        """The live session with its user (read in the same query; None when deleted), its
        idle clock restarted; or None."""
        if not 0 < len(session_id) <= MAX_ID_LENGTH:
            return None
        key = id_hash(session_id)
        async with self.db()() as db:
            found = (await db.execute(
                sa.select(ConsoleLoginSession, ConsoleUser)
                .outerjoin(ConsoleUser, ConsoleUser.id == ConsoleLoginSession.user_id)
                .where(ConsoleLoginSession.id_hash == key))).one_or_none()
        if found is None:
            return None
        row, user = found
        now = self.clock()
        opened, used = row.opened_at.timestamp(), row.last_used.timestamp()
        if now - used >= self.idle or now - opened >= self.lifetime:
            await self.close(session_id)
            return None
        if now - used >= self.touch_every:
            await self._write(key, last_used=self._at(now))
            used = now
        return ConsoleSession(session_id, row.user_id, row.csrf, opened, used,
                              None if user is None else User.of(user),
                              [(k, t, v) for k, t, v in row.flash or []])

    async def _write(self, key: str, **values: Any) -> None:
        async with self.db()() as db, db.begin():
            await db.execute(sa.update(ConsoleLoginSession)
                             .where(ConsoleLoginSession.id_hash == key).values(**values))

    async def add_flash(self, session: ConsoleSession, kind: str, text: str,
                        values: dict[str, object] | None = None) -> None:
        """A message for the session's next page (whichever node serves it)."""
        session.flash.append((kind, text, dict(values or {})))
        await self._write(id_hash(session.id), flash=[list(f) for f in session.flash])

    async def take_flash(self, session: ConsoleSession) -> list[Flash]:
        """The messages waiting for this page, now shown (so cleared)."""
        messages, session.flash = session.flash, []
        if messages:
            await self._write(id_hash(session.id), flash=None)
        return messages

    async def close(self, session_id: str) -> None:
        if not 0 < len(session_id) <= MAX_ID_LENGTH:
            return
        async with self.db()() as db, db.begin():
            await db.execute(sa.delete(ConsoleLoginSession).where(
                ConsoleLoginSession.id_hash == id_hash(session_id)))

    async def close_user(self, user_id: int) -> None:
        async with self.db()() as db, db.begin():
            await db.execute(sa.delete(ConsoleLoginSession).where(
                ConsoleLoginSession.user_id == user_id))


# On the hub's (root) application, so that /api/docs can accept the console session too.
CONSOLE_SESSIONS = web.AppKey("console_sessions", ConsoleSessions)

"""Console login sessions: a random id in an HttpOnly, SameSite=Strict cookie (Secure over
TLS) that maps, in this process, to the user it was opened for and the session's CSRF token.

A session ends after ``idle`` seconds without a request, after ``lifetime`` seconds whatever
happens, on logout, and as soon as its user is disabled (the user is read again on every
request). Sessions live in the memory of one hub process: behind a load balancer, pin
``/console/`` to a node (or log in per node), as for ``/api/docs``.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from hub.openapi import CONSOLE_COOKIE

COOKIE = CONSOLE_COOKIE
# Before login: the double-submit CSRF token of the login and language forms.
PRE_COOKIE = "pnc_hub_console_pre"
IDLE_SECONDS = 30 * 60
LIFETIME_SECONDS = 12 * 3600
MAX_SESSIONS = 5000


@dataclass
class ConsoleSession:
    id: str
    user_id: int
    csrf: str
    opened_at: float
    last_used: float
    # Messages for the next page (a command's answer, a saved form): (kind, text, values),
    # the text translated and formatted with the values when shown.
    flash: list[tuple[str, str, dict[str, object]]] = field(default_factory=list)


class ConsoleSessions:
    def __init__(self, idle: float = IDLE_SECONDS, lifetime: float = LIFETIME_SECONDS,
                 limit: int = MAX_SESSIONS, clock: Callable[[], float] = time.monotonic) -> None:
        self.idle = idle
        self.lifetime = lifetime
        self.limit = limit
        self.clock = clock
        self._sessions: OrderedDict[str, ConsoleSession] = OrderedDict()

    def open(self, user_id: int) -> ConsoleSession:
        now = self.clock()
        session = ConsoleSession(secrets.token_urlsafe(32), user_id, secrets.token_urlsafe(32),
                                 now, now)
        self._prune(now)
        self._sessions[session.id] = session
        while len(self._sessions) > self.limit:
            self._sessions.popitem(last=False)  # the least recently used goes first
        return session

    def _prune(self, now: float) -> None:
        """Drop the sessions idle too long. The dict is in order of last use, so they are
        at its front: a session nobody comes back for does not wait for ``limit`` to go."""
        while self._sessions:
            oldest = next(iter(self._sessions.values()))
            if now - oldest.last_used < self.idle:
                return
            self._sessions.popitem(last=False)

    def __len__(self) -> int:
        return len(self._sessions)

    def get(self, session_id: str) -> ConsoleSession | None:
        """The live session (its idle clock restarted), or None."""
        session = self._sessions.get(session_id)
        if session is None:
            return None
        now = self.clock()
        if now - session.last_used >= self.idle or now - session.opened_at >= self.lifetime:
            del self._sessions[session_id]
            return None
        session.last_used = now
        self._sessions.move_to_end(session_id)
        return session

    def close(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    def close_user(self, user_id: int) -> None:
        for key in [k for k, s in self._sessions.items() if s.user_id == user_id]:
            del self._sessions[key]


# On the hub's (root) application, so that /api/docs can accept the console session too.
CONSOLE_SESSIONS = web.AppKey("console_sessions", ConsoleSessions)

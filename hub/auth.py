"""Bearer tokens for the HTTP APIs, and the middleware that requires them everywhere.

Every route requires an admin token unless its handler says otherwise: ``@public`` (health
checks, the chargers' WebSocket, endpoints with their own authentication) or
``@requires_scope("sites:read", ...)``, which also admits tokens holding one of those scopes.
Only the SHA-256 of a token is stored; tokens are 256-bit random, so no slow hash is needed.

Scopes are a closed set (``SCOPES``, documented in the README); an unknown one is refused when
the token is created, so a typo cannot produce a token that silently reaches nothing.
Listing, revoking and the ``serve --dev`` token live in ``hub.api_tokens``.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.credential_throttle import CredentialThrottle, too_many_failures
from hub.db.base import utcnow
from hub.db.models import ApiToken
from hub.errors import Handler, error_response

log = logging.getLogger(__name__)

ADMIN = "admin"
TOKEN_PREFIX = "pnch_"
#: Every scope a token may hold, and what it admits (besides admin, which admits everything).
SCOPES: dict[str, str] = {
    ADMIN: "every route, including token administration",
    "read": "the management API's read-only routes (monitoring, lists, /metrics)",
    "commands": "routes that send OCPP commands to stations (reset, remote start, ...)",
    "metrics:read": "Prometheus text at /metrics only",
    "sites:read": "Sites API reads (limited to the token's organisation when it has one)",
    "sites:write": "Sites API writes (limited to the token's organisation when it has one)",
}
# A token's last-used time is written at most this often (seconds), not on every request.
LAST_USED_INTERVAL = 60.0
F = TypeVar("F", bound=Callable[..., Any])


class UnknownScope(ValueError):
    """A scope outside ``SCOPES``; the message lists the valid ones."""


@dataclass(frozen=True)
class TokenInfo:
    id: int
    name: str
    scopes: frozenset[str]
    organisation_id: str | None
    expires_at: datetime | None = None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.scopes


# web.RequestKey is aiohttp >= 3.13's typed request key; older versions take a plain string.
REQUEST_TOKEN: Any = (web.RequestKey("pnc_hub_token", TokenInfo) if hasattr(web, "RequestKey")
                      else "pnc_hub.token")


def public(handler: F) -> F:
    """Mark a handler as reachable without credentials."""
    handler.public = True  # type: ignore[attr-defined]
    return handler


def requires_scope(*scopes: str) -> Callable[[F], F]:
    """Admit tokens with any of ``scopes`` (admin tokens are always admitted)."""

    def decorate(handler: F) -> F:
        handler.scopes = frozenset(scopes)  # type: ignore[attr-defined]
        return handler

    return decorate


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_scopes(scopes: Iterable[str] | None) -> list[str]:
    """The scopes, deduplicated (default admin), or ``UnknownScope`` naming the bad one."""
    chosen = list(dict.fromkeys(scopes or [ADMIN]))
    for scope in chosen:
        if scope not in SCOPES:
            raise UnknownScope(f"unknown scope {scope!r}; valid scopes: {', '.join(SCOPES)}")
    return chosen


async def create_token(sessions: async_sessionmaker[AsyncSession], name: str,
                       scopes: list[str] | None = None,
                       organisation_id: str | None = None,
                       expires_at: datetime | None = None) -> str:
    """Create a token and return it; this is the only time the plain token exists."""
    token, _ = await create_token_row(sessions, name, scopes, organisation_id, expires_at)
    return token


async def create_token_row(sessions: async_sessionmaker[AsyncSession], name: str,
                           scopes: list[str] | None = None,
                           organisation_id: str | None = None,
                           expires_at: datetime | None = None) -> tuple[str, ApiToken]:
    """Like ``create_token``, also returning the stored row (for the API's answer)."""
    chosen = check_scopes(scopes)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=name, token_hash=hash_token(token), scopes=" ".join(chosen),
                   organisation_id=organisation_id, created_at=utcnow(), expires_at=expires_at)
    async with sessions() as session, session.begin():
        session.add(row)
    return token, row


class TokenVerifier:
    """Looks tokens up with a short cache, so an API burst costs no query per request."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], ttl: float = 10.0) -> None:
        self._sessions = sessions
        self._ttl = ttl
        self._cache: dict[str, tuple[float, TokenInfo | None]] = {}
        # token id -> monotonic time its last-used time was last written
        self._used_written: dict[int, float] = {}

    def forget(self) -> None:
        """Drop cached lookups (after a revocation, so it applies at once on this node)."""
        self._cache.clear()

    async def verify(self, token: str) -> TokenInfo | None:
        info = await self._lookup(hash_token(token))
        if info is None or info.expired(utcnow()):
            return None
        await self._note_use(info.id)
        return info

    async def _lookup(self, digest: str) -> TokenInfo | None:
        cached = self._cache.get(digest)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        async with self._sessions() as session:
            row = (await session.execute(sa.select(ApiToken).where(
                ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None)))).scalar_one_or_none()
        info = None if row is None else TokenInfo(
            row.id, row.name, frozenset(row.scopes.split()), row.organisation_id, row.expires_at)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (now + self._ttl, info)
        return info

    async def _note_use(self, token_id: int) -> None:
        now = time.monotonic()
        written = self._used_written.get(token_id)
        if written is not None and now - written < LAST_USED_INTERVAL:
            return
        self._used_written[token_id] = now
        try:
            async with self._sessions() as session, session.begin():
                await session.execute(sa.update(ApiToken).where(ApiToken.id == token_id)
                                      .values(last_used_at=utcnow()))
        except Exception as exc:  # a busy database must not fail the request it authorises
            log.warning("could not record the last use of API token %s: %s", token_id, exc)


TOKEN_VERIFIER = web.AppKey("token_verifier", TokenVerifier)


def request_token(request: web.Request) -> TokenInfo:
    return request[REQUEST_TOKEN]


class CredentialsThrottled(Exception):
    """The caller's address failed too often: answer ``response()`` (429, Retry-After)."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after

    def response(self) -> web.Response:
        return too_many_failures(self.retry_after)


async def verify_offered(verifier: TokenVerifier, token: str, throttle: CredentialThrottle,
                         address: str | None) -> TokenInfo | None:
    """Check a token a caller offers now. Refused (CredentialsThrottled) while the address is
    throttled; an unknown token counts against the address. Every route that takes a token
    from a caller goes through here, so none is a side door for guessing tokens."""
    if (wait := throttle.retry_after(address)) > 0:
        raise CredentialsThrottled(wait)
    info = await verifier.verify(token)
    if info is None:
        throttle.failure(address)
    return info


def auth_middleware(verifier_for: Callable[[web.Request], TokenVerifier],
                    throttle: CredentialThrottle | None = None) -> Any:
    """``throttle``: failed tokens per source address (429 + Retry-After once it blocks)."""
    if throttle is None:
        throttle = CredentialThrottle()

    @web.middleware
    async def require_credentials(request: web.Request, handler: Handler) -> web.StreamResponse:
        match_info = request.match_info
        if match_info.http_exception is not None:
            return await handler(request)  # 404 / 405: nothing to protect
        route_handler = match_info.handler
        if getattr(route_handler, "public", False):
            return await handler(request)
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            response = error_response(401, "unauthorized",
                                      "a bearer token is required (Authorization: Bearer ...)")
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        try:
            info = await verify_offered(verifier_for(request), token.strip(), throttle,
                                        request.remote)
        except CredentialsThrottled as exc:
            return exc.response()
        if info is None:
            return error_response(401, "unauthorized", "unknown or revoked token")
        allowed = getattr(route_handler, "scopes", frozenset())
        if not info.is_admin and not (info.scopes & allowed):
            return error_response(403, "forbidden", "this token's scopes do not allow this route",
                                  required_scopes=sorted(allowed | {ADMIN}))
        request[REQUEST_TOKEN] = info
        return await handler(request)

    return require_credentials

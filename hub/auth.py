"""Bearer tokens for the HTTP APIs, and the middleware that requires them everywhere.

Every route requires an admin token unless its handler says otherwise: ``@public`` (health
checks, the chargers' WebSocket, endpoints with their own authentication) or
``@requires_scope("sites:read", ...)``, which also admits tokens holding one of those scopes.
Only the SHA-256 of a token is stored; tokens are 256-bit random, so no slow hash is needed.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.credential_throttle import CredentialThrottle, too_many_failures
from hub.db.base import utcnow
from hub.db.models import ApiToken
from hub.errors import Handler, error_response

ADMIN = "admin"
TOKEN_PREFIX = "pnch_"
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class TokenInfo:
    id: int
    name: str
    scopes: frozenset[str]
    organisation_id: str | None

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.scopes


REQUEST_TOKEN = "pnc_hub.token"


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


async def create_token(sessions: async_sessionmaker[AsyncSession], name: str,
                       scopes: list[str] | None = None,
                       organisation_id: str | None = None) -> str:
    """Create a token and return it; this is the only time the plain token exists."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    async with sessions() as session, session.begin():
        session.add(ApiToken(name=name, token_hash=hash_token(token),
                             scopes=" ".join(scopes or [ADMIN]),
                             organisation_id=organisation_id, created_at=utcnow()))
    return token


class TokenVerifier:
    """Looks tokens up with a short cache, so an API burst costs no query per request."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], ttl: float = 10.0) -> None:
        self._sessions = sessions
        self._ttl = ttl
        self._cache: dict[str, tuple[float, TokenInfo | None]] = {}

    async def verify(self, token: str) -> TokenInfo | None:
        digest = hash_token(token)
        cached = self._cache.get(digest)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        async with self._sessions() as session:
            row = (await session.execute(sa.select(ApiToken).where(
                ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None)))).scalar_one_or_none()
        info = None if row is None else TokenInfo(
            row.id, row.name, frozenset(row.scopes.split()), row.organisation_id)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (now + self._ttl, info)
        return info


def request_token(request: web.Request) -> TokenInfo:
    return request[REQUEST_TOKEN]


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
        wait = throttle.retry_after(request.remote)
        if wait > 0:
            return too_many_failures(wait)
        info = await verifier_for(request).verify(token.strip())
        if info is None:
            throttle.failure(request.remote)
            return error_response(401, "unauthorized", "unknown or revoked token")
        allowed = getattr(route_handler, "scopes", frozenset())
        if not info.is_admin and not (info.scopes & allowed):
            return error_response(403, "forbidden", "this token's scopes do not allow this route",
                                  required_scopes=sorted(allowed | {ADMIN}))
        request[REQUEST_TOKEN] = info
        return await handler(request)

    return require_credentials

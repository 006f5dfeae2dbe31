"""API token administration: list, revoke, expiry parsing, and the one ``serve --dev`` token.

Shared by ``pnc-hub token ...`` and ``/api/api-tokens``. A token's secret is never stored
(only its SHA-256, see ``hub.auth``) and never listed; it is shown once, when it is created.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.auth import create_token, hash_token
from hub.db.base import utcnow
from hub.db.models import ApiToken
from hub.services.timestamps import format_timestamp, parse_timestamp

DEV_TOKEN_NAME = "dev admin (serve --dev)"
_DURATION = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_expiry(text: str, now: datetime | None = None) -> datetime:
    """``30d``, ``12h``, ``90m``, ``2w`` from now, or an RFC 3339 timestamp; in the future."""
    now = now or utcnow()
    match = _DURATION.match(text.strip())
    if match:
        expires = now + timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    else:
        try:
            expires = parse_timestamp(text)
        except ValueError:
            raise ValueError(f"expiry {text!r} is neither a duration (30d, 12h, 90m, 2w) "
                             "nor an RFC 3339 timestamp") from None
    if expires <= now:
        raise ValueError(f"expiry {text!r} is not in the future")
    return expires


@dataclass(frozen=True)
class TokenView:
    """What may be shown about a token: everything but its secret and hash."""

    id: int
    name: str
    scopes: list[str]
    organisation_id: str | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: ApiToken) -> TokenView:
        return cls(row.id, row.name, row.scopes.split(), row.organisation_id, row.created_at,
                   row.expires_at, row.last_used_at, row.revoked_at)

    def state(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def as_json(self, now: datetime | None = None) -> dict[str, Any]:
        def ts(value: datetime | None) -> str | None:
            return None if value is None else format_timestamp(value)

        return {"id": self.id, "name": self.name, "scopes": self.scopes,
                "organisation_id": self.organisation_id, "state": self.state(now or utcnow()),
                "created_at": ts(self.created_at), "expires_at": ts(self.expires_at),
                "last_used_at": ts(self.last_used_at), "revoked_at": ts(self.revoked_at)}


async def list_tokens(sessions: async_sessionmaker[AsyncSession], *,
                      include_revoked: bool = False) -> list[TokenView]:
    query = sa.select(ApiToken).order_by(ApiToken.id)
    if not include_revoked:
        query = query.where(ApiToken.revoked_at.is_(None))
    async with sessions() as session:
        return [TokenView.of(row) for row in (await session.execute(query)).scalars()]


async def get_token(sessions: async_sessionmaker[AsyncSession], token_id: int) -> TokenView | None:
    async with sessions() as session:
        row = await session.get(ApiToken, token_id)
        return None if row is None else TokenView.of(row)


async def revoke_token(sessions: async_sessionmaker[AsyncSession], token_id: int) -> bool:
    """Revoke one token; False when there is no such token (revoking twice is fine)."""
    async with sessions() as session, session.begin():
        row = await session.get(ApiToken, token_id)
        if row is None:
            return False
        if row.revoked_at is None:
            row.revoked_at = utcnow()
        return True


def dev_token_file(database_url: str) -> Path:
    """Where ``serve --dev`` keeps its token: beside the SQLite file, else the working dir."""
    from sqlalchemy import make_url

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        path = Path(url.database)
        return path.with_name(path.name + ".dev-token")
    return Path(".pnc-hub-dev-token")


async def dev_admin_token(sessions: async_sessionmaker[AsyncSession], file: Path) -> str:
    """The one dev admin token: the stored one while it is still valid, else a new one that
    replaces (revokes) every earlier dev token. Restarts do not pile up admin tokens."""
    stored = _read_token_file(file)
    async with sessions() as session:
        dev_rows = list((await session.execute(sa.select(ApiToken).where(
            ApiToken.name == DEV_TOKEN_NAME, ApiToken.revoked_at.is_(None)))).scalars())
    if stored and any(row.token_hash == hash_token(stored) for row in dev_rows):
        return stored
    if dev_rows:
        async with sessions() as session, session.begin():
            await session.execute(sa.update(ApiToken).where(
                ApiToken.id.in_([row.id for row in dev_rows])).values(revoked_at=utcnow()))
    token = await create_token(sessions, DEV_TOKEN_NAME)
    _write_token_file(file, token)
    return token


def _read_token_file(file: Path) -> str:
    # A few bytes at start-up: not worth a thread.
    try:
        return file.read_text().strip()
    except OSError:
        return ""


def _write_token_file(file: Path, token: str) -> None:
    # Only the owner may read it: it is an admin credential in plain text.
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(token + "\n")

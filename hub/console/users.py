"""Console users: roles, scrypt password hashes, one-time login links.

Shared by ``pnc-hub user ...`` (hub.console.user_cli) and the console's pages. Passwords are
hashed with ``hashlib.scrypt`` (the standard library's memory-hard KDF: n=2**14, r=8, p=1,
16-byte salt); login links are 256-bit random tokens of which only the SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.db.base import utcnow
from hub.db.models_console import ConsoleLoginLink, ConsoleUser

VIEWER, OPERATOR, ADMIN = "viewer", "operator", "admin"
# Each role may do what the ones before it may.
ROLES = (VIEWER, OPERATOR, ADMIN)
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
USERNAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
LOGIN_LINK_MINUTES = 15
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}

Sessions = async_sessionmaker[AsyncSession]


class UserError(ValueError):
    """Bad input for a user (the message names what is wrong)."""


def role_allows(role: str, needed: str) -> bool:
    return ROLES.index(role) >= ROLES.index(needed)


def hash_password(password: str) -> str:
    check_password(password)
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt" or len(password) > MAX_PASSWORD_LENGTH:
            return False
        candidate = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n),
                                   r=int(r), p=int(p), dklen=len(digest) // 2)
    except ValueError:
        return False
    return hmac.compare_digest(candidate.hex(), digest)


_DUMMY: list[str] = []


def _dummy_hash() -> str:
    """A hash to verify against when the user does not exist, so the answer takes as long."""
    if not _DUMMY:
        _DUMMY.append(hash_password(secrets.token_urlsafe(16)))
    return _DUMMY[0]


def check_password(password: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise UserError(f"password: must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} "
                        "characters")


def check_username(username: str) -> None:
    if not USERNAME.match(username):
        raise UserError("username: 1 to 64 letters, digits or . _ @ -")


def check_role(role: str) -> None:
    if role not in ROLES:
        raise UserError(f"role: must be one of {', '.join(ROLES)}")


@dataclass(frozen=True)
class User:
    """What the console knows of a logged-in person (never the hash)."""

    id: int
    username: str
    role: str
    organisation_key: str | None
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, row: ConsoleUser) -> User:
        return cls(row.id, row.username, row.role, row.organisation_key,
                   row.disabled_at is not None, row.created_at, row.last_login_at)

    def may(self, needed: str) -> bool:
        return not self.disabled and role_allows(self.role, needed)


async def add_user(sessions: Sessions, username: str, password: str, role: str = VIEWER,
                   organisation_key: str | None = None) -> User:
    check_username(username)
    check_role(role)
    row = ConsoleUser(username=username, password_hash=hash_password(password), role=role,
                      organisation_key=organisation_key or None, created_at=utcnow())
    async with sessions() as session, session.begin():
        if await _row(session, username) is not None:
            raise UserError(f"username: {username!r} already exists")
        session.add(row)
    return User.of(row)


async def _row(session: AsyncSession, username: str) -> ConsoleUser | None:
    return (await session.execute(sa.select(ConsoleUser).where(
        ConsoleUser.username == username))).scalar_one_or_none()


async def get_user(sessions: Sessions, user_id: int) -> User | None:
    async with sessions() as session:
        row = await session.get(ConsoleUser, user_id)
        return None if row is None else User.of(row)


async def find_user(sessions: Sessions, username: str) -> User | None:
    async with sessions() as session:
        row = await _row(session, username)
        return None if row is None else User.of(row)


async def list_users(sessions: Sessions) -> list[User]:
    async with sessions() as session:
        rows = (await session.execute(sa.select(ConsoleUser).order_by(ConsoleUser.username)))
        return [User.of(row) for row in rows.scalars()]


async def set_password(sessions: Sessions, username: str, password: str) -> bool:
    new_hash = hash_password(password)
    async with sessions() as session, session.begin():
        row = await _row(session, username)
        if row is None:
            return False
        row.password_hash = new_hash
        return True


async def set_disabled(sessions: Sessions, username: str, disabled: bool = True) -> bool:
    async with sessions() as session, session.begin():
        row = await _row(session, username)
        if row is None:
            return False
        row.disabled_at = utcnow() if disabled else None
        return True


async def authenticate(sessions: Sessions, username: str, password: str) -> User | None:
    """The user, when the password is right and the user is enabled; else None (in about the
    same time whether or not the user exists)."""
    async with sessions() as session:
        row = await _row(session, username) if USERNAME.match(username) else None
    if row is None:
        verify_password(password, _dummy_hash())
        return None
    if not verify_password(password, row.password_hash) or row.disabled_at is not None:
        return None
    await _note_login(sessions, row.id)
    return User.of(row)


async def password_matches(sessions: Sessions, user_id: int, password: str) -> bool:
    """Whether ``password`` is the user's (to confirm a change of one's own password)."""
    async with sessions() as session:
        row = await session.get(ConsoleUser, user_id)
    return verify_password(password, row.password_hash if row else _dummy_hash())


async def _note_login(sessions: Sessions, user_id: int) -> None:
    async with sessions() as session, session.begin():
        await session.execute(sa.update(ConsoleUser).where(ConsoleUser.id == user_id)
                              .values(last_login_at=utcnow()))


async def create_login_link(sessions: Sessions, username: str,
                            minutes: int = LOGIN_LINK_MINUTES) -> str:
    """A token for ``/console/op_directlogin?token=...``: one use, ``minutes`` long."""
    token = secrets.token_urlsafe(32)
    async with sessions() as session, session.begin():
        row = await _row(session, username)
        if row is None:
            raise UserError(f"username: no user {username!r}")
        if row.disabled_at is not None:
            raise UserError(f"username: {username!r} is disabled")
        session.add(ConsoleLoginLink(
            token_hash=hashlib.sha256(token.encode()).hexdigest(), user_id=row.id,
            expires_at=utcnow() + timedelta(minutes=minutes), created_at=utcnow()))
    return token


async def redeem_login_link(sessions: Sessions, token: str) -> User | None:
    """The link's user, marking the link used; None for an unknown, used or expired link."""
    if not 0 < len(token) <= 128:
        return None
    digest = hashlib.sha256(token.encode()).hexdigest()
    now = utcnow()
    async with sessions() as session, session.begin():
        # The conditional UPDATE is the one-use guarantee, also against two racing requests.
        result = await session.execute(
            sa.update(ConsoleLoginLink)
            .where(ConsoleLoginLink.token_hash == digest, ConsoleLoginLink.used_at.is_(None),
                   ConsoleLoginLink.expires_at > now)
            .values(used_at=now).returning(ConsoleLoginLink.user_id))
        user_id = result.scalar_one_or_none()
        if user_id is None:
            return None
        row = await session.get(ConsoleUser, user_id)
    if row is None or row.disabled_at is not None:
        return None
    await _note_login(sessions, row.id)
    return User.of(row)

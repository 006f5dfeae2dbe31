"""The operator console's people: users (apart from API tokens) and their one-time login links."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Base, UTCDateTime, utcnow


class ConsoleUser(Base):
    """A person who logs in to ``/console/``. Only the scrypt hash of the password is kept."""

    __tablename__ = "console_users"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    # viewer | operator | admin (hub.console.users.ROLES)
    role: Mapped[str] = mapped_column(sa.String(16), default="viewer")
    # The organisation key (as API tokens carry it): the user sees only its stations.
    organisation_key: Mapped[str | None] = mapped_column(sa.String(64))
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ConsoleLoginLink(Base):
    """A one-time login link (``pnc-hub user login-link``): only the SHA-256 of its token."""

    __tablename__ = "console_login_links"

    token_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("console_users.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConsoleLoginSession(Base):
    """A console login session, shared by every node on the database. The cookie holds a
    random id; only its SHA-256 is kept here (a leaked table opens no session)."""

    __tablename__ = "console_sessions"

    id_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("console_users.id", ondelete="CASCADE"), index=True)
    csrf: Mapped[str] = mapped_column(sa.String(64))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Refreshed at most every few seconds (hub.console.sessions.ConsoleSessions.touch_every).
    last_used: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # Messages for the next page, which may be served by another node: [[kind, text, values]].
    flash: Mapped[list[Any] | None] = mapped_column(sa.JSON)

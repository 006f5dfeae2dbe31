"""The hub's database: declarative base, engine construction, session factory.

The same code runs on SQLite (``sqlite+aiosqlite``, the zero-configuration default) and
PostgreSQL (``postgresql+asyncpg``). Feature packages declare their models on ``Base`` too.
"""

from hub.db.base import Base, UTCDateTime, utcnow
from hub.db.engine import create_engine, is_sqlite, session_factory

__all__ = ["Base", "UTCDateTime", "create_engine", "is_sqlite", "session_factory", "utcnow"]

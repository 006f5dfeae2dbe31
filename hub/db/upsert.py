"""INSERT ... ON CONFLICT DO UPDATE for SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


async def upsert(
    conn: AsyncConnection,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    key: Sequence[str],
    update: Sequence[str] | None = None,
    newer_than: str | None = None,
) -> None:
    """Insert ``rows``; where ``key`` already exists, overwrite the ``update`` columns
    (only where the new row's ``newer_than`` column is not older than the stored one)."""
    if not rows:
        return
    columns = tuple(update if update is not None else [c for c in rows[0] if c not in key])
    await conn.execute(upsert_statement(conn.dialect.name, table, tuple(key), columns,
                                        newer_than), list(rows))


_statements: dict[tuple[Any, ...], Any] = {}


def upsert_statement(dialect: str, table: sa.Table, key: tuple[str, ...],
                     columns: tuple[str, ...], newer_than: str | None) -> Any:
    """Built once per shape: a reused statement keeps SQLAlchemy's cache key, which costs as
    much to compute as the rest of executing it."""
    cache_key = (dialect, table, key, columns, newer_than)
    stmt = _statements.get(cache_key)
    if stmt is None:
        stmt = _statements[cache_key] = _build(dialect, table, key, columns, newer_than)
    return stmt


def _build(dialect: str, table: sa.Table, key: tuple[str, ...], columns: tuple[str, ...],
           newer_than: str | None) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table)
    if columns:
        where = None
        if newer_than is not None:
            where = getattr(stmt.excluded, newer_than) >= table.c[newer_than]
        stmt = stmt.on_conflict_do_update(
            index_elements=list(key), set_={c: getattr(stmt.excluded, c) for c in columns},
            where=where,
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(key))
    return stmt

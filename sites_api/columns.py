"""Column helpers of the read model: raw times and JSON, and the page's site ids."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import orjson
import sqlalchemy as sa


def ts(value: Any) -> str | None:
    """A stored time as the API's ISO 8601 UTC text with milliseconds.

    Hot paths select times through ``raw``: SQLite then hands back its stored text (naive
    UTC, "YYYY-MM-DD HH:MM:SS.ffffff"), which is re-cut here instead of being parsed into a
    datetime and formatted again, thousands of times per page; PostgreSQL hands back datetimes.
    """
    if value is None:
        return None
    if isinstance(value, str):
        if len(value) >= 23:
            return f"{value[:10]}T{value[11:23]}Z"
        return f"{value[:10]}T{value[11:19]}.000Z"
    return value.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def raw_json(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """A JSON column as its stored text, decoded by ``json_value`` with orjson (several times
    faster than the stdlib decoder of the JSON type); PostgreSQL may hand back values."""
    return sa.type_coerce(column, sa.Text()).label(column.key)


def json_value(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def raw(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """``column`` without result processing (see ``ts``)."""
    return sa.type_coerce(column, sa.String()).label(column.key)


# The page's site ids as one expanding parameter: the read model's statements are built once
# with it and serve every page (building SQLAlchemy constructs per request costs CPU and leaves
# hundreds of reference cycles per request for the garbage collector).
SITE_IDS = sa.bindparam("site_ids", expanding=True)

"""What stations report about themselves: diagnostics, firmware, logs, security events."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.context import Hub
from hub.db.base import utcnow
from hub.db.group_commit import emit
from hub.db.models import StationNotification
from hub.events import StationNotified


async def record_notification(
    hub: Hub,
    station_id: str,
    kind: str,
    status: str,
    request_id: int | None = None,
    detail: dict[str, Any] | str | None = None,
    timestamp: datetime | None = None,
) -> None:
    text = json.dumps(detail) if isinstance(detail, dict) else detail
    event = StationNotified(station_id=station_id, kind=kind, status=status,
                            request_id=request_id)

    async def work(conn: AsyncConnection) -> None:
        await conn.execute(_INSERT, {
            "station_id": station_id, "kind": kind, "status": status, "request_id": request_id,
            "detail": text, "timestamp": timestamp or utcnow(),
        })
        # In the same transaction: request tracking (diagnostics, firmware) follows the report.
        await emit(conn, event)

    await hub.committer.run(work)


# Built once: with the values in the statement, SQLAlchemy computed a new cache key for every
# notification (a 2.0.1 BootNotification is one).
_INSERT = sa.insert(StationNotification)

"""What stations report about themselves: diagnostics, firmware, logs, security events."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.context import Hub
from hub.db.base import utcnow
from hub.db.models import StationNotification


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

    async def work(conn: AsyncConnection) -> None:
        await conn.execute(sa.insert(StationNotification).values(
            station_id=station_id, kind=kind, status=status, request_id=request_id, detail=text,
            timestamp=timestamp or utcnow(),
        ))

    await hub.committer.run(work)

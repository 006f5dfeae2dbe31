"""Reports a station sends in parts (requestId, seqNo, tbc): each part is kept as it came, and
a report is complete once the part with ``tbc`` false and every part before it arrived.

Used for NotifyMonitoringReport, NotifyDisplayMessages (which has no seqNo: parts are numbered
by arrival) and NotifyCustomerInformation. NotifyReport keeps its own progress
(hub.services.device_model), as it predates this.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.context import Hub
from hub.db.base import utcnow
from hub.db.models_blocks import StationReportPart
from hub.db.upsert import upsert

MONITORING = "NotifyMonitoringReport"
DISPLAY_MESSAGES = "NotifyDisplayMessages"
CUSTOMER_INFORMATION = "NotifyCustomerInformation"


@dataclass(frozen=True)
class AssembledReport:
    station_id: str
    kind: str
    request_id: int
    complete: bool
    parts: list[dict[str, Any]]

    @property
    def text(self) -> str:
        """Customer information: the parts' data, in seqNo order."""
        return "".join(str(p["data"]) for p in self.parts)

    def items(self) -> list[Any]:
        """Monitors or display messages: every part's list, in seqNo order."""
        return [item for p in self.parts for item in (p["data"] or [])]


async def store_part(conn: AsyncConnection, station_id: str, kind: str, request_id: int,
                     seq_no: int | None, tbc: bool, generated_at: datetime | None,
                     data: Any) -> None:
    """Keep one part (in the caller's transaction). A resent part replaces the first copy."""
    if seq_no is None:
        seq_no = (await conn.execute(sa.select(sa.func.count()).where(
            StationReportPart.station_id == station_id, StationReportPart.kind == kind,
            StationReportPart.request_id == request_id))).scalar_one()
    now = utcnow()
    await upsert(conn, StationReportPart.__table__, [{
        "station_id": station_id, "kind": kind, "request_id": request_id, "seq_no": seq_no,
        "tbc": tbc, "generated_at": generated_at or now, "data": data, "received_at": now}],
        key=["station_id", "kind", "request_id", "seq_no"])


async def record_part(hub: Hub, station_id: str, kind: str, request_id: int,
                      seq_no: int | None, tbc: bool, generated_at: datetime | None,
                      data: Any) -> None:
    async def work(conn: AsyncConnection) -> None:
        await store_part(conn, station_id, kind, request_id, seq_no, tbc, generated_at, data)

    await hub.committer.run(work)


async def assembled(hub: Hub, station_id: str, kind: str, request_id: int
                    ) -> AssembledReport | None:
    """The report as far as it arrived, or None when no part did."""
    async with hub.sessions() as session:
        rows = (await session.execute(sa.select(StationReportPart).where(
            StationReportPart.station_id == station_id, StationReportPart.kind == kind,
            StationReportPart.request_id == request_id).order_by(StationReportPart.seq_no)
        )).scalars().all()
    if not rows:
        return None
    seq_nos = [r.seq_no for r in rows]
    last = next((r.seq_no for r in rows if not r.tbc), None)
    complete = last is not None and seq_nos[:last + 1] == list(range(last + 1))
    parts = [{"seq_no": r.seq_no, "tbc": r.tbc, "generated_at": r.generated_at,
              "data": r.data} for r in rows]
    return AssembledReport(station_id, kind, request_id, complete, parts)


async def reports(hub: Hub, station_id: str, kind: str) -> list[int]:
    """The request ids of the reports of ``kind`` kept for a station, newest first."""
    async with hub.sessions() as session:
        rows = (await session.execute(sa.select(
            StationReportPart.request_id, sa.func.max(StationReportPart.received_at)).where(
            StationReportPart.station_id == station_id, StationReportPart.kind == kind
        ).group_by(StationReportPart.request_id).order_by(
            sa.func.max(StationReportPart.received_at).desc()))).all()
    return [r[0] for r in rows]

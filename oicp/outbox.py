"""The OICP rows of the hub's outbox (``hub.db.models.OutboxMessage``, topic ``oicp``).

Rows are written inside the transaction of the fact that caused them (``enqueue`` takes that
transaction's connection) and drained by ``oicp.worker``. ``ordering_key`` is
``<lane>:<key>``: the lane is the Hubject operation (one request in flight per lane, in id
order) and the key what order is kept for (an EVSE for status, a session for notifications).

A row is finished when ``delivered_at`` is set: Hubject accepted it, it was superseded by a
newer status of the same EVSE (coalesced), or Hubject refused it for good; the last two keep a
note in ``last_error`` ("superseded by #id" / "rejected: ...").
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.db.base import utcnow
from hub.db.models import OutboxMessage
from hub.metrics import MetricFamily

TOPIC = "oicp"
STATUS = "status"
NOTIFICATION = "notification"
CDR = "cdr"
EVSE_DATA = "evse_data"
PRICING = "pricing"
LANES = (STATUS, NOTIFICATION, CDR, EVSE_DATA, PRICING)


async def enqueue(conn: AsyncConnection, lane: str, key: str, payload: dict[str, Any],
                  now: datetime | None = None) -> int:
    """Queue one message in the caller's transaction; returns its id."""
    assert lane in LANES
    return (await conn.execute(sa.insert(OutboxMessage).values(
        topic=TOPIC, ordering_key=f"{lane}:{key}", payload=payload, created_at=now or utcnow(),
        attempts=0,
    ).returning(OutboxMessage.id))).scalar_one()


async def enqueue_status(conn: AsyncConnection, evse_id: str, status: str,
                         now: datetime | None = None) -> int:
    now = now or utcnow()
    return await enqueue(conn, STATUS, evse_id,
                         {"evse_id": evse_id, "status": status, "at": now.isoformat()}, now)


# A request for a PushEvseData fullLoad whose body is built when it is sent (the EVSE data as
# it is then), so that one push carries every change made before it.
EVSE_DATA_SYNC = f"{EVSE_DATA}:sync"


async def request_evse_data_sync(conn: AsyncConnection, reason: str, delay: float,
                                 now: datetime | None = None) -> int | None:
    """Queue a fullLoad of the current EVSE data in ``delay`` seconds, unless one is already
    waiting for its time (it will include this change). Returns the new row's id."""
    now = now or utcnow()
    waiting = (await conn.execute(sa.select(OutboxMessage.id).where(
        lane_filter(EVSE_DATA), OutboxMessage.ordering_key == EVSE_DATA_SYNC,
        OutboxMessage.next_attempt_at > now).limit(1))).scalar()
    if waiting is not None:
        return None
    return (await conn.execute(sa.insert(OutboxMessage).values(
        topic=TOPIC, ordering_key=EVSE_DATA_SYNC, payload={"sync": "fullLoad", "reason": reason},
        created_at=now, attempts=0, next_attempt_at=now + timedelta(seconds=delay),
    ).returning(OutboxMessage.id))).scalar_one()


async def last_statuses(conn: AsyncConnection) -> dict[str, str]:
    """EvseID -> the status last queued (pending or finished) for it, in one query."""
    newest = (sa.select(sa.func.max(OutboxMessage.id))
              .where(OutboxMessage.topic == TOPIC, OutboxMessage.ordering_key.like(f"{STATUS}:%"))
              .group_by(OutboxMessage.ordering_key))
    rows = await conn.execute(sa.select(OutboxMessage.payload).where(OutboxMessage.id.in_(newest)))
    return {payload["evse_id"]: payload["status"] for (payload,) in rows}


def lane_filter(lane: str) -> Any:
    return sa.and_(OutboxMessage.topic == TOPIC, OutboxMessage.delivered_at.is_(None),
                   OutboxMessage.ordering_key.like(f"{lane}:%"))


def row_state(row: OutboxMessage) -> str:
    """pending, failing (tried, will retry), delivered, or rejected (Hubject refused it for
    good: finished with a ``rejected:`` note)."""
    if row.delivered_at is not None:
        return "rejected" if (row.last_error or "").startswith("rejected:") else "delivered"
    return "failing" if row.last_error else "pending"


def recent_cdrs(limit: int) -> sa.Select[tuple[OutboxMessage]]:
    """The newest CDRs queued for Hubject, sent or not (one outbox row each)."""
    return (sa.select(OutboxMessage).where(OutboxMessage.topic == TOPIC,
                                           OutboxMessage.ordering_key.like(f"{CDR}:%"))
            .order_by(OutboxMessage.id.desc()).limit(limit))


async def outbox_metrics(engine: AsyncEngine, now: datetime | None = None,
                         rejected: bool = True) -> dict[str, Any]:
    """Depth and age of the OICP outbox, per lane and in total, straight from the database
    (so it is right after a restart and on every node).

    ``{"depth": 3, "oldest_age_seconds": 12.5, "lanes": {"status": {"depth": 2, ...}, ...},
    "failing": 1, "rejected": 0}`` - ``failing`` counts pending rows that already failed at
    least once; ``rejected`` counts rows Hubject refused for good (kept for inspection; it
    reads the finished rows too, so ``rejected=False`` leaves it out where that must be cheap).
    """
    now = now or utcnow()
    lane = sa.func.substr(OutboxMessage.ordering_key, 1,
                          sa.func.instr(OutboxMessage.ordering_key, ":") - 1) \
        if engine.dialect.name == "sqlite" else \
        sa.func.split_part(OutboxMessage.ordering_key, ":", 1)
    pending = sa.and_(OutboxMessage.topic == TOPIC, OutboxMessage.delivered_at.is_(None))
    async with engine.connect() as conn:
        rows = (await conn.execute(
            sa.select(lane.label("lane"), sa.func.count(), sa.func.min(OutboxMessage.created_at),
                      sa.func.sum(sa.case((OutboxMessage.attempts > 0, 1), else_=0)))
            .where(pending).group_by(lane)
        )).all()
        refused = (await conn.execute(sa.select(sa.func.count()).where(
            OutboxMessage.topic == TOPIC, OutboxMessage.delivered_at.is_not(None),
            OutboxMessage.last_error.like("rejected:%")))).scalar_one() if rejected else None
    lanes: dict[str, Any] = {name: {"depth": 0, "oldest_age_seconds": 0.0, "failing": 0}
                             for name in LANES}
    depth = failing = 0
    oldest: datetime | None = None
    for name, count, first, failed in rows:
        first = _aware(first)
        lanes[name] = {"depth": count,
                       "oldest_age_seconds": round((now - first).total_seconds(), 3)
                       if first else 0.0,
                       "failing": int(failed or 0)}
        depth += count
        failing += int(failed or 0)
        if first and (oldest is None or first < oldest):
            oldest = first
    return {
        "depth": depth,
        "oldest_age_seconds": round((now - oldest).total_seconds(), 3) if oldest else 0.0,
        "failing": failing,
        "rejected": refused,
        "lanes": lanes,
    }


async def metric_families(engine: AsyncEngine) -> list[MetricFamily]:
    """The outbox figures for /metrics (``hub.metric_providers``), per lane: one query over
    the pending rows only, so that a scrape stays cheap however many finished rows are kept."""
    figures = await outbox_metrics(engine, rejected=False)
    lanes = [({"lane": name}, figures["lanes"][name]) for name in LANES]
    return [
        MetricFamily("pnc_hub_oicp_outbox_depth", "gauge",
                     "OICP outbox rows waiting to be sent to Hubject, by lane.",
                     [(labels, lane["depth"]) for labels, lane in lanes]),
        MetricFamily("pnc_hub_oicp_outbox_oldest_age_seconds", "gauge",
                     "Age of the oldest waiting OICP outbox row, by lane (0 when empty).",
                     [(labels, lane["oldest_age_seconds"]) for labels, lane in lanes]),
        MetricFamily("pnc_hub_oicp_outbox_failing", "gauge",
                     "Waiting OICP outbox rows that failed at least once, by lane.",
                     [(labels, lane["failing"]) for labels, lane in lanes]),
    ]


def _aware(value: Any) -> datetime | None:
    """Aggregates bypass the column type on SQLite: min() comes back as a naive string."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        from datetime import UTC

        value = value.replace(tzinfo=UTC)
    return value

"""Hubject roaming in the operator console (``/console/op_oicp``): the outbox lanes (pending,
failing, oldest), the failing rows with their errors, the last pushes, recent OICP sessions,
and the recent CDRs with their outbox state. Roaming is estate-wide: users with an
organisation are refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from aiohttp import web

from hub.console.pages import ConsolePage, add_console_page, current_user, page, render
from hub.db.models import OutboxMessage
from hub.feature_api import HUB
from oicp.models import OicpSession
from oicp.outbox import LANES, TOPIC, recent_cdrs, row_state

ROWS = 50
GERMAN = {
    "Roaming (OICP)": "Roaming (OICP)",
    "Outbox lanes": "Ausgangsspuren",
    "Lane": "Spur",
    "Pending": "Ausstehend",
    "Failing": "Fehlschlagend",
    "Oldest": "Älteste",
    "Failing rows": "Fehlschlagende Einträge",
    "Last pushes": "Letzte Übertragungen",
    "Delivered": "Zugestellt",
    "OICP sessions": "OICP-Sitzungen",
    "Provider": "Anbieter",
    "nothing": "nichts",
    "Charge detail records": "Ladevorgangsdatensätze (CDR)",
    "Session": "Sitzung",
    "Charging start": "Ladebeginn",
    "Charging end": "Ladeende",
    "Energy (kWh)": "Energie (kWh)",
    "Outbox state": "Ausgangsstatus",
    "Attempts": "Versuche",
    "delivered": "zugestellt",
    "rejected": "abgelehnt",
}


def cdr_view(row: OutboxMessage) -> dict[str, Any]:
    """What the CDR table shows of one outbox row (the CDR as queued, not personal data)."""
    payload = row.payload or {}
    return {"session_id": payload.get("SessionID") or (row.ordering_key or "").partition(":")[2],
            "evse_id": payload.get("EvseID"), "start": payload.get("ChargingStart"),
            "end": payload.get("ChargingEnd"), "energy": payload.get("ConsumedEnergy"),
            "state": row_state(row), "attempts": row.attempts, "created_at": row.created_at,
            "delivered_at": row.delivered_at, "error": row.last_error}


@page("Hubject roaming: outbox lanes, failing rows, last pushes, sessions, CDRs")
async def oicp_page(request: web.Request) -> web.Response:
    if current_user(request).organisation_key is not None:
        raise web.HTTPForbidden(text="roaming is estate-wide: not for organisation users")
    hub = request.config_dict[HUB]
    pending = sa.and_(OutboxMessage.topic == TOPIC, OutboxMessage.delivered_at.is_(None))
    async with hub.sessions() as session:
        lanes = []
        for lane in LANES:
            in_lane = sa.and_(pending, OutboxMessage.ordering_key.like(f"{lane}:%"))
            count, failing, oldest = (await session.execute(sa.select(
                sa.func.count(), sa.func.count(OutboxMessage.last_error),
                sa.func.min(OutboxMessage.created_at)).where(in_lane))).one()
            lanes.append((lane, count, failing, oldest))
        failing_rows = list((await session.execute(
            sa.select(OutboxMessage).where(pending, OutboxMessage.last_error.is_not(None))
            .order_by(OutboxMessage.id).limit(ROWS))).scalars())
        pushed = list((await session.execute(
            sa.select(OutboxMessage).where(OutboxMessage.topic == TOPIC,
                                           OutboxMessage.delivered_at.is_not(None))
            .order_by(OutboxMessage.delivered_at.desc()).limit(ROWS))).scalars())
        sessions = list((await session.execute(
            sa.select(OicpSession).order_by(OicpSession.created_at.desc()).limit(ROWS)))
            .scalars())
        cdrs = [cdr_view(row) for row in (await session.execute(recent_cdrs(ROWS))).scalars()]
    return render(request, "oicp.html", lanes=lanes, failing=failing_rows, pushed=pushed,
                  sessions=sessions, cdrs=cdrs)


def add_pages(app: web.Application) -> None:
    add_console_page(app, ConsolePage(
        "op_oicp", "Roaming (OICP)", oicp_page,
        templates=Path(__file__).parent / "console_templates", german=GERMAN))

"""Monitoring pages: performance (the hub's own metrics), the ping monitor (live
connections), broker redirects and their history, and the public ``check``."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from yarl import URL

from hub.console import estate
from hub.console.feed import CONSOLE_FEED, FLAP_CONNECTS
from hub.console.guard import current_user, page
from hub.console.render import render
from hub.console.views_estate import MESSAGE_RATE, visible_station
from hub.context import HUB, Hub
from hub.db.models import Station
from hub.openapi import path
from hub.services import redirects
from hub.services.station_diagnosis import diagnose


async def _visible_ids(hub: Hub, org: str | None, ids: list[str]) -> set[str]:
    """Which of ``ids`` the organisation may see (all of them without an organisation)."""
    if org is None:
        return set(ids)
    async with hub.sessions() as session:
        return set((await session.execute(sa.select(Station.id).where(
            Station.id.in_(ids), Station.organisation_key == org))).scalars())


@page("Per-action latency and throughput from the hub's own metrics")
async def performance(request: web.Request) -> web.Response:
    hub = request.config_dict[HUB]
    rows = []
    for direction, action, stats in hub.metrics.items():
        view = stats.snapshot()
        rows.append({"direction": direction, "action": action, **view})
    slowest = max((r["latency_ms"]["p99"] or 0 for r in rows), default=0) or 1
    uptime = max(1.0, time.time() - hub.metrics.started)
    return render(request, "performance.html", rows=rows, slowest=slowest, uptime=uptime,
                  rate=request.config_dict[MESSAGE_RATE].per_second(hub),
                  log=hub.message_log.metrics(5), connections=len(hub.stations))


@page("Live connections: last seen, ping round trip, messages, reconnects, flapping stations")
async def ping_monitor(request: web.Request) -> web.Response:
    hub = request.config_dict[HUB]
    live = list(hub.stations)
    visible = await _visible_ids(hub, current_user(request).organisation_key,
                                 [s.id for s in live])
    connections = request.config_dict[CONSOLE_FEED].connections
    now = time.time()
    rows: list[dict[str, Any]] = [{
        "id": s.id, "connected_at": s.connected_at, "seen_ago": max(0.0, now - s.last_seen),
        "messages_in": s.messages_in, "messages_out": s.messages_out,
        "ocpp_version": s.ocpp_version, "reconnects": connections.reconnects(s.id),
        # The hub's WebSocket heartbeat measures it (GuardedWebSocket); None until a ping
        # went out, i.e. after a ping interval without frames from the station.
        "round_trip": getattr(s.ws, "round_trip", None),
        "flapping": connections.flapping(s.id)} for s in live if s.id in visible]
    rows.sort(key=lambda r: (not r["flapping"], -r["seen_ago"]))
    return render(request, "ping_monitor.html", rows=rows[:1000], total=len(rows),
                  ping=hub.config.ocpp.websocket_ping_interval, flap=FLAP_CONNECTS)


def _safe_target(url: str) -> str:
    return str(URL(url).with_user(None)) if "@" in url else url


@page("Broker redirects: stations whose connection goes to another backend")
async def redirect_list(request: web.Request) -> web.Response:
    hub = request.config_dict[HUB]
    rows = await redirects.list_rows(hub)
    visible = await _visible_ids(hub, current_user(request).organisation_key,
                                 [r.station_id for r in rows])
    return render(request, "redirects.html", rows=[r for r in rows if r.station_id in visible],
                  target=_safe_target)


@page("A station's redirect history (marked, changed, unmarked)",
      parameters=[path("station_id", {"type": "string", "maxLength": 48})])
async def redirect_history(request: web.Request) -> web.Response:
    hub = request.config_dict[HUB]
    station_id = request.match_info["station_id"]
    org = current_user(request).organisation_key
    if org is not None and await estate.station_visible(hub, station_id, org) is None:
        raise web.HTTPNotFound(text=f"no station {station_id}")
    return render(request, "redirect_history.html", station_id=station_id,
                  rows=await redirects.history(hub, station_id), target=_safe_target)


@page("Is the console up (public)", role=None, response_type="application/json",
      example={"status": "ok"}, schema={"type": "object", "required": ["status"],
                                        "properties": {"status": {"const": "ok"}}})
async def check(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@page("A station's diagnosis from the hub's own data (deterministic rules, with evidence)",
      parameters=[path("station_id", {"type": "string", "maxLength": 48})])
async def station_diagnosis(request: web.Request) -> web.Response:
    hub = request.config_dict[HUB]
    station_id = (await visible_station(request)).id
    reconnects = request.config_dict[CONSOLE_FEED].connections.reconnects(station_id)
    return render(request, "diagnosis.html", station_id=station_id,
                  findings=await diagnose(hub, station_id, reconnects))


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/op_performance", performance, name="op_performance")
    r.add_get("/op_ping_monitor", ping_monitor, name="op_ping_monitor")
    r.add_get("/op_redirects", redirect_list, name="op_redirects")
    r.add_get("/op_marked_wallboxes/{station_id}/history", redirect_history)
    r.add_get("/check", check)
    r.add_get("/op_ai_diagnostics/{station_id}", station_diagnosis)

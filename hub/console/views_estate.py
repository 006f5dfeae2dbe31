"""The estate's pages: dashboard, stations, one station (live), its OCPP messages, sessions."""

from __future__ import annotations

import contextlib
import time
from collections import deque

from aiohttp import web

from hub.console import estate
from hub.console.feed import CONSOLE_FEED, open_stream, send
from hub.console.guard import current_user, page, take_flash
from hub.console.render import render
from hub.console.users import OPERATOR
from hub.context import HUB, Hub
from hub.db.models import Station
from hub.files import firmware
from hub.files.service import FILES
from hub.openapi import path, query

STATION = path("station_id", {"type": "string", "maxLength": 48})
RATE_WINDOW = 60.0


class MessageRate:
    """Messages per second over the last minute (from the message log's running count,
    sampled at each look at the dashboard)."""

    def __init__(self) -> None:
        self._samples: deque[tuple[float, int]] = deque()

    def per_second(self, hub: Hub, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        count = hub.message_log.enqueued
        self._samples.append((now, count))
        while len(self._samples) > 2 and now - self._samples[1][0] >= RATE_WINDOW:
            self._samples.popleft()
        first_at, first = self._samples[0]
        if now - first_at < 1.0:  # the first look: the average since the hub started
            return count / max(1.0, time.time() - hub.metrics.started)
        return (count - first) / (now - first_at)


MESSAGE_RATE = web.AppKey("console_message_rate", MessageRate)


def _org(request: web.Request) -> str | None:
    return current_user(request).organisation_key


@page("The estate at a glance")
async def dashboard(request: web.Request) -> web.Response:
    hub = request.config_dict[HUB]
    figures = await estate.estate(hub, _org(request))
    errors = sum(stats.errors for _d, _a, stats in hub.metrics.items())
    return render(request, "dashboard.html", estate=figures, flash=await take_flash(request),
                  rate=request.config_dict[MESSAGE_RATE].per_second(hub), errors=errors,
                  log_failures=hub.message_log.failed_batches + hub.message_log.dropped)


@page("Stations: search, filter, pages", parameters=[
    query("q", {"type": "string", "maxLength": 100}, description="id, vendor or model"),
    query("online", {"type": "string", "enum": ["", "yes", "no"]}),
    query("page", {"type": "integer", "minimum": 1})])
async def stations(request: web.Request) -> web.Response:
    search = request.query.get("q", "")[:100].strip()
    online = request.query.get("online", "")
    page_no = request.query.get("page", "1")
    result = await estate.station_page(
        request.config_dict[HUB], _org(request), search=search, online=online,
        page=int(page_no) if page_no.isdigit() else 1)
    return render(request, "stations.html", result=result, q=search, online=online)


async def visible_station(request: web.Request) -> Station:
    """The route's ``{station_id}`` if the user may see it; else 404."""
    station_id = request.match_info["station_id"]
    row = await estate.station_visible(request.config_dict[HUB], station_id, _org(request))
    if row is None:
        raise web.HTTPNotFound(text=f"no station {station_id}")
    return row


@page("One station: live connectors, current session, configuration, commands",
      parameters=[STATION])
async def station(request: web.Request) -> web.Response:
    hub = request.config_dict[HUB]
    row = await visible_station(request)
    detail = await estate.station_detail(hub, row.id)
    may_command = current_user(request).may(OPERATOR)
    images = await firmware.images(request.config_dict[FILES]) if may_command else []
    return render(request, "station.html", station=row, detail=detail,
                  live=hub.stations.get(row.id), flash=await take_flash(request),
                  may_command=may_command, firmware_images=images)


@page("Live events of one station (Server-Sent Events)", parameters=[STATION],
      response_type="text/event-stream",
      example='event: status\ndata: {"connector_id": 1, "status": "Charging"}\n\n')
async def station_events(request: web.Request) -> web.StreamResponse:
    station_id = (await visible_station(request)).id
    response = await open_stream(request)
    with contextlib.suppress(ConnectionResetError):  # the page was closed
        async for item in request.config_dict[CONSOLE_FEED].watch(station_id):
            await send(response, *(item or (None, None)))
    return response


@page("A station's recent OCPP messages, live-tailing", parameters=[STATION])
async def details(request: web.Request) -> web.Response:
    station_id = (await visible_station(request)).id
    rows = await estate.recent_messages(request.config_dict[HUB], station_id)
    return render(request, "details.html", station_id=station_id, rows=rows)


@page("A station's new OCPP messages as they are logged (Server-Sent Events)",
      parameters=[STATION, query("after", {"type": "integer", "minimum": 0})],
      response_type="text/event-stream",
      example='event: message\ndata: {"id": 7, "action": "Heartbeat"}\n\n')
async def details_events(request: web.Request) -> web.StreamResponse:
    """The log is written in batches, so the stream reads it after each of the station's
    events and at least every second (one indexed query per open page)."""
    hub = request.config_dict[HUB]
    station_id = (await visible_station(request)).id
    after = request.query.get("after", "0")
    last = int(after) if after.isdigit() else 0
    response = await open_stream(request)
    with contextlib.suppress(ConnectionResetError):  # the page was closed
        async for _tick in request.config_dict[CONSOLE_FEED].ticks(station_id):
            for row in await estate.recent_messages(hub, station_id, after_id=last):
                last = row.id
                await send(response, "message", {
                    "id": row.id, "at": row.timestamp.isoformat(), "direction": row.direction,
                    "message_type": row.message_type, "action": row.action,
                    "payload": row.payload[:2000]})
    return response


@page("Charging sessions running now")
async def active_sessions(request: web.Request) -> web.Response:
    hub = request.config_dict[HUB]
    rows = await estate.transactions(hub, _org(request), status="active", size=500)
    return render(request, "active_sessions.html", rows=rows,
                  power=await estate.power_of(hub, rows))


def add_routes(app: web.Application) -> None:
    app[MESSAGE_RATE] = MessageRate()
    r = app.router
    r.add_get("/op_dashboard", dashboard, name="op_dashboard")
    r.add_get("/stations", stations, name="stations")
    r.add_get("/stations/{station_id}", station)
    r.add_get("/stations/{station_id}/events", station_events)
    r.add_get("/op_details/{station_id}", details)
    r.add_get("/op_details/{station_id}/events", details_events)
    r.add_get("/op_active_sessions", active_sessions, name="op_active_sessions")

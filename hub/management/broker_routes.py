"""The seed Broker's operational endpoints that mean something in one hub: status, connection
statistics, wallboxes, limits, sessions, and the GET-style reboot/disconnect/diagnostics calls.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from aiohttp import web

from hub.db.base import utcnow
from hub.db.models import Station
from hub.management import schemas as s
from hub.management.common import choice_field, hub_of, iso, number_field, text_or_json
from hub.management.data_routes import session_view
from hub.management.firmware_routes import DIAGNOSTICS_ANSWER, get_diagnostics
from hub.management.monitoring import (
    active_transactions,
    connections,
    detailed_stations,
    fd_limits,
    live_station,
)
from hub.management.ocpp_routes import disconnect, reset
from hub.management.route_policy import call_params
from hub.management.tracker import TRACKER
from hub.openapi import operation, query

TAGS = ["broker"]
STATION_SUMMARY = s.obj(["station_id", "connected"], station_id=s.STRING, connected=s.BOOLEAN,
                        last_seen=s.TIMESTAMP, ocpp_version=s.NULLABLE_STRING)


@operation("Hub status, uptime and a database round trip", tags=TAGS,
           response=s.obj(["status", "database"], status=s.enum("online", "degraded"),
                          database=s.obj(["ok", "checked_at"], ok=s.BOOLEAN,
                                         checked_at=s.STRING, latency_ms=s.NULLABLE_NUMBER)))
async def broker_status(request: web.Request) -> web.Response:
    hub = hub_of(request)
    started = time.perf_counter()
    error = None
    try:
        async with hub.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # the answer reports it; this route must not fail with it
        error = f"{type(exc).__name__}: {exc}"
    latency = round((time.perf_counter() - started) * 1000, 3)
    now = utcnow()
    return web.json_response({
        "status": "online" if error is None else "degraded",
        "started_at": iso(hub.started_at),
        "uptime_seconds": round((now - hub.started_at).total_seconds(), 3),
        "connected_stations": len(hub.stations),
        "database": {"ok": error is None, "checked_at": iso(now),
                     "latency_ms": latency if error is None else None, "error": error,
                     "backend": hub.engine.url.get_backend_name()},
        "message_log_queue": hub.message_log.size,
        "group_commit_queue": hub.committer.queue_depth,
    })


@operation("Per-station connection statistics (last frame, message counts)", tags=TAGS,
           response=s.obj(["stations", "count"], stations=s.ANY_OBJECT, count=s.INTEGER))
async def connection_stats(request: web.Request) -> web.Response:
    hub = hub_of(request)
    now = time.time()
    views = {session.id: live_station(session, now) for session in hub.stations}
    return web.json_response({"stations": dict(sorted(views.items())), "count": len(views),
                              "totals": connections(hub)})


@operation("Connects, disconnects and reconnects within a window", tags=TAGS,
           parameters=[query("window", {"type": "number", "minimum": 1, "maximum": 604800},
                             description="seconds (default 3600)")],
           response=s.obj(["window_seconds", "connects", "disconnects", "reconnects",
                           "stations"], window_seconds=s.NUMBER, connects=s.INTEGER,
                          disconnects=s.INTEGER, reconnects=s.INTEGER,
                          stations=s.array(s.ANY_OBJECT)))
async def reconnect_stats(request: web.Request) -> web.Response:
    window = number_field(dict(request.query), "window", default=3600.0, minimum=1,
                          maximum=604800)
    stats = request.app[TRACKER].window(window)
    stats["totals"] = connections(hub_of(request))
    return web.json_response(stats)


async def _known_stations(request: web.Request) -> list[dict[str, Any]]:
    hub = hub_of(request)
    async with hub.sessions() as session:
        rows = (await session.execute(sa.select(Station).order_by(Station.id))).scalars().all()
    views = []
    for row in rows:
        live = hub.stations.get(row.id)
        views.append({"station_id": row.id, "connected": live is not None,
                      "ocpp_version": live.ocpp_version if live else row.ocpp_version,
                      "last_seen": iso(live.last_seen_at if live else row.last_seen_at),
                      "connected_at": iso(live.connected_at) if live else None,
                      "disconnected_at": None if live else iso(row.disconnected_at),
                      "registration_status": row.registration_status})
    return views


@operation("Known wallboxes and their connection state", tags=TAGS,
           response=s.obj(["entries", "connected", "disconnected", "wallboxes"],
                          entries=s.INTEGER, connected=s.INTEGER, disconnected=s.INTEGER,
                          wallboxes=s.array(STATION_SUMMARY)))
async def connected_wallboxes(request: web.Request) -> web.Response:
    views = await _known_stations(request)
    online = sum(v["connected"] for v in views)
    return web.json_response({"entries": len(views), "connected": online,
                              "disconnected": len(views) - online, "wallboxes": views})


@operation("Active WebSocket connections of chargers", tags=TAGS,
           response=s.obj(["wallbox_to_broker", "total"], wallbox_to_broker=s.INTEGER,
                          total=s.INTEGER, by_ocpp_version=s.ANY_OBJECT))
async def broker_websocket_counts(request: web.Request) -> web.Response:
    conns = connections(hub_of(request))
    # In one hub the chargers' sockets end here: there is no broker-to-server leg to count.
    return web.json_response({"wallbox_to_broker": conns["active"], "total": conns["active"],
                              "by_ocpp_version": conns["by_ocpp_version"]})


@operation("File descriptor limits and estimated connection headroom", tags=TAGS,
           response=s.obj(["ulimit_no_file_soft", "ulimit_no_file_hard",
                           "open_file_descriptors"],
                          ulimit_no_file_soft=s.NULLABLE_INTEGER,
                          ulimit_no_file_hard=s.NULLABLE_INTEGER,
                          open_file_descriptors=s.NULLABLE_INTEGER,
                          estimated_free_connections=s.NULLABLE_INTEGER))
async def system_limits(request: web.Request) -> web.Response:
    limits = fd_limits()
    soft, used = limits["soft_limit"], limits["open"]
    free = None if soft is None or used is None else max(0, soft - used)
    return web.json_response({
        "ulimit_no_file_soft": soft, "ulimit_no_file_hard": limits["hard_limit"],
        "open_file_descriptors": used, "websocket_connections": len(hub_of(request).stations),
        # Each charger costs one descriptor; the rest is headroom for new connections.
        "estimated_free_connections": free,
        "usage_percent": None if soft in (None, 0) or used is None
        else round(100 * used / soft, 2),
    })


def _quality(seconds_silent: float, heartbeat: float) -> str:
    if seconds_silent <= 1.5 * heartbeat:
        return "good"
    if seconds_silent <= 3 * heartbeat:
        return "degraded"
    return "stale"


@operation("Connected and disconnected EVSEs with connection quality", tags=TAGS,
           response=s.obj(["connected", "disconnected"],
                          connected=s.array(s.obj(["station_id", "quality"],
                                                  station_id=s.STRING, quality=s.enum(
                                                      "good", "degraded", "stale"))),
                          disconnected=s.array(STATION_SUMMARY)))
async def connected_evse(request: web.Request) -> web.Response:
    hub = hub_of(request)
    heartbeat = float(hub.config.ocpp.heartbeat_interval)
    views = await _known_stations(request)
    now = time.time()
    connected = []
    for session in sorted(hub.stations, key=lambda x: x.id):
        view = live_station(session, now)
        view["quality"] = _quality(view["seconds_since_last_seen"], heartbeat)
        connected.append(view)
    return web.json_response({"connected": connected,
                              "disconnected": [v for v in views if not v["connected"]]})


@operation("Connected devices with their connector snapshots", tags=TAGS,
           response=s.obj(["connected", "count"], connected=s.array(s.DETAILED_STATION),
                          count=s.INTEGER))
async def connected_devices(request: web.Request) -> web.Response:
    hub = hub_of(request)
    views = await detailed_stations(hub, sorted(session.id for session in hub.stations))
    return web.json_response({"connected": views, "count": len(views)})


@operation("Active charging sessions", tags=TAGS,
           response=s.obj(["sessions", "count"], sessions=s.array(s.SESSION), count=s.INTEGER))
async def active_sessions(request: web.Request) -> web.Response:
    rows = await active_transactions(hub_of(request))
    return web.json_response({"sessions": [session_view(row) for row in rows],
                              "count": len(rows)})


@operation("Reset (reboot) a station; text answer, JSON if Accept asks", tags=TAGS,
           parameters=[s.STATION_PATH, query("type", s.enum("Soft", "Hard"),
                                             description="default Soft")],
           responses={**s.text_or_json("Reset-Aufruf gestartet: Accepted", s.obj(
               ["status", "station_id", "type"], status=s.STRING, station_id=s.STRING,
               type=s.enum("Soft", "Hard"))), **s.COMMAND_ERRORS})
async def reboot_charge_point(request: web.Request) -> web.Response:
    station_id = request.match_info["station_id"]
    kind = choice_field(await call_params(request), "type", choices=("Soft", "Hard"),
                        default="Soft")
    status = await reset(hub_of(request), station_id, kind)
    return text_or_json(request, f"Reset-Aufruf gestartet: {status}",
                        {"status": status, "station_id": station_id, "type": kind})


@operation("Close a station's WebSocket; text answer, JSON if Accept asks", tags=TAGS,
           parameters=[s.STATION_PATH],
           responses={**s.text_or_json("Chargepoint getrennt", s.obj(
               ["status", "station_id"], status=s.STRING, station_id=s.STRING)),
               **s.COMMAND_ERRORS})
async def disconnect_charge_point(request: web.Request) -> web.Response:
    station_id = request.match_info["station_id"]
    await disconnect(hub_of(request), station_id)
    return text_or_json(request, "Chargepoint getrennt",
                        {"status": "disconnected", "station_id": station_id})


@operation("GetDiagnostics (to location, or to the hub when omitted); text answer, JSON if "
           "Accept asks", tags=TAGS,
           parameters=[s.STATION_PATH, query("location", s.STRING),
                       query("transport", s.enum("http", "ftp")),
                       query("start_time", s.STRING), query("stop_time", s.STRING),
                       query("retries", s.INTEGER), query("retry_interval", s.INTEGER)],
           responses={**s.text_or_json("GetDiagnostics-Aufruf gestartet: Accepted",
                                       DIAGNOSTICS_ANSWER), **s.COMMAND_ERRORS})
async def get_diagnostics_get(request: web.Request) -> web.Response:
    station_id = request.match_info["station_id"]
    result = await get_diagnostics(request, station_id, await call_params(request))
    return text_or_json(request, f"GetDiagnostics-Aufruf gestartet: {result['status']}", result)


@operation("GetDiagnostics with an upload to the hub over HTTP; text answer, JSON if Accept "
           "asks", tags=TAGS,
           parameters=[s.STATION_PATH, query("start_time", s.STRING),
                       query("stop_time", s.STRING), query("retries", s.INTEGER),
                       query("retry_interval", s.INTEGER)],
           responses={**s.text_or_json("GetDiagnostics-Aufruf gestartet: Accepted",
                                       DIAGNOSTICS_ANSWER), **s.COMMAND_ERRORS})
async def get_diagnostics_http(request: web.Request) -> web.Response:
    station_id = request.match_info["station_id"]
    data = {k: v for k, v in (await call_params(request)).items()
            if k not in ("location", "transport")}
    result = await get_diagnostics(request, station_id, {**data, "transport": "http"})
    return text_or_json(request, f"GetDiagnostics-Aufruf gestartet: {result['status']}", result)


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/brokerStatus", broker_status)
    r.add_get("/connectionStats", connection_stats)
    r.add_get("/api/reconnectStats", reconnect_stats)
    r.add_get("/connectedWallboxes", connected_wallboxes)
    r.add_get("/websocketCounts", broker_websocket_counts)
    r.add_get("/system/limits", system_limits)
    r.add_get("/getConnecteEVSE", connected_evse)
    r.add_get("/getConnectedDevices", connected_devices)
    r.add_get("/activeSessions", active_sessions)
    r.add_get("/rebootChargePoint/{station_id}", reboot_charge_point)
    r.add_get("/disconnectChargePoint/{station_id}", disconnect_charge_point)
    r.add_get("/getDiagnostics/{station_id}", get_diagnostics_get)
    r.add_get("/getDiagnosticsHTTP/{station_id}", get_diagnostics_http)

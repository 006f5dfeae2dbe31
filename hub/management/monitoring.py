"""The seed's "OCPP Server" monitoring routes, and the snapshots /metrics and the broker routes
share: database pool, message-log queue, WebSocket counts, per-action metrics, liveness."""

from __future__ import annotations

import os
import resource
import time
from collections import Counter
from typing import Any

import sqlalchemy as sa
from aiohttp import web

from hub.context import Hub
from hub.db.base import utcnow
from hub.db.models import Connector, Station, Transaction
from hub.errors import bad_request
from hub.management import schemas as s
from hub.management.common import hub_of, iso, number_field
from hub.metrics import percentile
from hub.openapi import operation, query

TAGS = ["monitoring"]


# -- snapshots ---------------------------------------------------------------------------


def db_pool(hub: Hub) -> dict[str, Any]:
    """The SQLAlchemy pool behind the hub's engine, whatever the backend."""
    pool = hub.engine.pool
    url = hub.engine.url

    def call(name: str) -> Any:
        method = getattr(pool, name, None)
        return method() if callable(method) else None

    size = call("size")
    return {
        "pool_type": type(pool).__name__,
        "backend": url.get_backend_name(),
        "driver": url.get_driver_name(),
        "pool_size": size,
        # The seed's field name, kept so that existing scripts keep working.
        "mysql_pool_size": size,
        "max_overflow": getattr(pool, "_max_overflow", None),
        "checked_out": call("checkedout"),
        "checked_in": call("checkedin"),
        "overflow": call("overflow"),
        "timeout_seconds": call("timeout"),
        "status": pool.status(),
        "group_commit": hub.committer.stats(),
    }


def open_file_descriptors() -> int | None:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None


def fd_limits() -> dict[str, Any]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return {"soft_limit": soft if soft != resource.RLIM_INFINITY else None,
            "hard_limit": hard if hard != resource.RLIM_INFINITY else None,
            "open": open_file_descriptors()}


def connections(hub: Hub) -> dict[str, Any]:
    by_version = Counter(session.ocpp_version for session in hub.stations)
    registry = hub.stations
    return {"active": len(registry), "by_ocpp_version": dict(by_version),
            "connects_total": registry.connects, "disconnects_total": registry.disconnects,
            "replaced_total": registry.replaced}


def action_metrics(hub: Hub, direction: str | None = None) -> dict[str, Any]:
    """Per action: totals over both directions, and each direction's own figures."""
    merged: dict[str, dict[str, Any]] = {}
    samples: dict[str, list[float]] = {}
    for d, action, stats in hub.metrics.items():
        if direction and d != direction:
            continue
        entry = merged.setdefault(action, {"count": 0, "success": 0, "errors": 0,
                                           "last_error": None, "directions": {}})
        entry["success"] += stats.success
        entry["errors"] += stats.errors
        entry["count"] += stats.success + stats.errors
        entry["last_error"] = stats.last_error or entry["last_error"]
        entry["directions"][d] = stats.snapshot()
        samples.setdefault(action, []).extend(stats.latencies)
    for action, entry in merged.items():
        values = sorted(v * 1000 for v in samples[action])
        entry["latency_ms"] = {
            "p50": _round(percentile(values, 0.5)), "p90": _round(percentile(values, 0.9)),
            "p99": _round(percentile(values, 0.99)),
            "max": _round(values[-1] if values else None), "samples": len(values)}
    return dict(sorted(merged.items()))


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def live_station(session: Any, now: float | None = None) -> dict[str, Any]:
    now = now or time.time()
    return {"station_id": session.id, "ocpp_version": session.ocpp_version,
            "connected_at": iso(session.connected_at), "last_seen": iso(session.last_seen_at),
            "seconds_since_last_seen": round(max(0.0, now - session.last_seen), 3),
            "remote": session.remote, "messages_in": session.messages_in,
            "messages_out": session.messages_out, "booted": session.booted}


def connector_view(row: Connector) -> dict[str, Any]:
    return {"connector_id": row.connector_id, "status": row.status, "error_code": row.error_code,
            "info": row.info, "availability": row.availability,
            "current_transaction_id": row.current_transaction_id,
            "status_timestamp": iso(row.status_timestamp)}


async def detailed_stations(hub: Hub, station_ids: list[str]) -> list[dict[str, Any]]:
    """Stations with what the database knows: boot data, availability, connector status."""
    if not station_ids:
        return []
    async with hub.sessions() as session:
        stations = {row.id: row for row in (await session.execute(
            sa.select(Station).where(Station.id.in_(station_ids)))).scalars()}
        connectors: dict[str, list[Connector]] = {}
        for row in (await session.execute(sa.select(Connector).where(
                Connector.station_id.in_(station_ids)).order_by(
                Connector.station_id, Connector.connector_id))).scalars():
            connectors.setdefault(row.station_id, []).append(row)
    now = time.time()
    result = []
    for station_id in station_ids:
        live = hub.stations.get(station_id)
        row = stations.get(station_id)
        view: dict[str, Any] = live_station(live, now) if live else {
            "station_id": station_id, "ocpp_version": row.ocpp_version if row else None,
            "connected_at": None, "last_seen": iso(row.last_seen_at) if row else None}
        view["connected"] = live is not None
        if row is not None:
            view.update(vendor=row.vendor, model=row.model, serial_number=row.serial_number,
                        firmware_version=row.firmware_version, boot_status=row.boot_status,
                        registration_status=row.registration_status,
                        last_boot_at=iso(row.last_boot_at))
        chargers = connectors.get(station_id, [])
        station_row = next((c for c in chargers if c.connector_id == 0), None)
        view["availability"] = station_row.availability if station_row else "Operative"
        view["connectors"] = [connector_view(c) for c in chargers]
        result.append(view)
    return result


async def active_transactions(hub: Hub) -> list[Transaction]:
    async with hub.sessions() as session:
        return list((await session.execute(sa.select(Transaction).where(
            Transaction.status == "active").order_by(Transaction.id))).scalars())


# -- routes ----------------------------------------------------------------------------


@operation("The hub's SQLAlchemy connection pool and group-commit figures", tags=TAGS,
           response=s.obj(["pool_type", "backend", "pool_size", "checked_out", "status"],
                          pool_type=s.STRING, backend=s.STRING, pool_size=s.NULLABLE_INTEGER,
                          checked_out=s.NULLABLE_INTEGER, status=s.STRING,
                          group_commit=s.ANY_OBJECT))
async def db_pool_status(request: web.Request) -> web.Response:
    return web.json_response(db_pool(hub_of(request)))


@operation("The OCPP message-log queue (optional window_minutes for flush figures)", tags=TAGS,
           parameters=[query("window_minutes", {"type": "number", "minimum": 0,
                                                "maximum": 10080})],
           response=s.obj(["size", "maxsize", "dropped", "written"], size=s.INTEGER,
                          maxsize=s.INTEGER, dropped=s.INTEGER, written=s.INTEGER,
                          enqueued=s.INTEGER, window_minutes=s.NULLABLE_NUMBER))
async def ocpp_log_queue_metrics(request: web.Request) -> web.Response:
    window = number_field(dict(request.query), "window_minutes", maximum=10080)
    return web.json_response(hub_of(request).message_log.metrics(window or None))


@operation("WebSocket connections and file descriptors", tags=TAGS,
           response=s.obj(["connections", "file_descriptors"],
                          connections=s.obj(["active"], active=s.INTEGER),
                          file_descriptors=s.ANY_OBJECT))
async def websocket_counts(request: web.Request) -> web.Response:
    hub = hub_of(request)
    return web.json_response({"connections": connections(hub), "file_descriptors": fd_limits(),
                              "generated_at": iso(utcnow())})


@operation("Count, errors and latency percentiles per OCPP action", tags=TAGS,
           parameters=[query("direction", s.enum("in", "out"),
                             description="in = charger-initiated, out = commands")],
           response={"type": "object", "additionalProperties": s.ACTION_STATS})
async def ocpp_action_metrics(request: web.Request) -> web.Response:
    direction = request.query.get("direction")
    if direction not in (None, "in", "out"):
        raise bad_request("direction", "must be in or out")
    return web.json_response(action_metrics(hub_of(request), direction))


LIVENESS_SORTS = ("last_seen", "station_id", "connected_at")


@operation("Liveness of connected stations: seconds since their last frame", tags=TAGS,
           parameters=[query("threshold", {"type": "number", "minimum": 0, "maximum": 604800},
                             description="seconds of silence after which a station is stale "
                                         "(default: twice the heartbeat interval)"),
                       query("sort", s.enum(*LIVENESS_SORTS),
                             description="last_seen = the most silent first (default)")],
           response=s.obj(["generated_at", "threshold_seconds", "stations"],
                          generated_at=s.STRING, threshold_seconds=s.NUMBER,
                          stale=s.INTEGER, stations=s.array(s.obj(
                              ["station_id", "seconds_since_last_seen", "stale"],
                              station_id=s.STRING, seconds_since_last_seen=s.NUMBER,
                              stale=s.BOOLEAN))))
async def station_liveness(request: web.Request) -> web.Response:
    hub = hub_of(request)
    params = dict(request.query)
    threshold = number_field(params, "threshold", maximum=604800,
                             default=2.0 * hub.config.ocpp.heartbeat_interval)
    sort = params.get("sort", "last_seen")
    if sort not in LIVENESS_SORTS:
        raise bad_request("sort", f"must be one of {', '.join(LIVENESS_SORTS)}")
    now = time.time()
    views = [live_station(session, now) for session in hub.stations]
    for view in views:
        view["stale"] = view["seconds_since_last_seen"] > threshold
    if sort == "last_seen":
        views.sort(key=lambda v: (-v["seconds_since_last_seen"], v["station_id"]))
    else:
        views.sort(key=lambda v: (v[sort] or "", v["station_id"]))
    return web.json_response({"generated_at": iso(utcnow()), "threshold_seconds": threshold,
                              "sort": sort, "stale": sum(v["stale"] for v in views),
                              "stations": views})


@operation("Compact list of connected stations", tags=TAGS,
           response=s.obj(["stations", "count"], stations=s.array(s.LIVE_STATION),
                          count=s.INTEGER))
async def connected_stations(request: web.Request) -> web.Response:
    hub = hub_of(request)
    now = time.time()
    views = sorted((live_station(session, now) for session in hub.stations),
                   key=lambda v: v["station_id"])
    return web.json_response({"stations": views, "count": len(views)})


@operation("Connected stations with availability, connector status and boot data", tags=TAGS,
           response=s.obj(["stations", "count"], stations=s.array(s.DETAILED_STATION),
                          count=s.INTEGER))
async def connected_stations_detailed(request: web.Request) -> web.Response:
    hub = hub_of(request)
    views = await detailed_stations(hub, sorted(session.id for session in hub.stations))
    return web.json_response({"stations": views, "count": len(views)})


@operation("Transaction ids currently open", tags=TAGS,
           response=s.obj(["transactions", "count"], transactions=s.array(s.INTEGER),
                          count=s.INTEGER, by_station=s.ANY_OBJECT))
async def all_current_transactions(request: web.Request) -> web.Response:
    rows = await active_transactions(hub_of(request))
    by_station: dict[str, list[int]] = {}
    for row in rows:
        by_station.setdefault(row.station_id, []).append(row.id)
    return web.json_response({"transactions": [row.id for row in rows], "count": len(rows),
                              "by_station": by_station})


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/db_pool_status", db_pool_status)
    r.add_get("/api/ocpp_log_queue_metrics", ocpp_log_queue_metrics)
    r.add_get("/api/websocketCounts", websocket_counts)
    r.add_get("/api/ocpp_action_metrics", ocpp_action_metrics)
    r.add_get("/api/station_liveness", station_liveness)
    r.add_get("/api/connected_stations", connected_stations)
    r.add_get("/api/connectedStations", connected_stations_detailed)
    r.add_get("/api/getAllCurrentTransactions", all_current_transactions)

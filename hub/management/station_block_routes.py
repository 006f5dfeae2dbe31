"""What the hub keeps of a station's OCPP blocks, read without asking the station: variable
monitors, display messages, network profiles, and the customer-information reports (GDPR).
Reads take the ``read`` scope (route_policy)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hub.errors import ApiError
from hub.management import schemas as s
from hub.management.common import hub_of, int_field, iso, require_station, station_from
from hub.management.route_policy import COMMANDS
from hub.openapi import operation, query
from hub.services import report_parts, station_holdings

TAGS = ["stations"]
HELD = s.obj(["id", "source", "updated_at"], id=s.INTEGER, source=s.enum("hub", "report"),
             updated_at=s.TIMESTAMP)
MONITORS = s.obj(["station_id", "monitors"], station_id=s.STRING, monitors=s.array(
    {**HELD, "properties": {**HELD["properties"], "monitor": s.ANY_OBJECT}}))
MESSAGES = s.obj(["station_id", "display_messages"], station_id=s.STRING,
                 display_messages=s.array(
                     {**HELD, "properties": {**HELD["properties"], "message": s.ANY_OBJECT}}))
PROFILES = s.obj(["station_id", "network_profiles"], station_id=s.STRING,
                 network_profiles=s.array(s.obj(
                     ["configuration_slot", "connection_data"], configuration_slot=s.INTEGER,
                     connection_data=s.ANY_OBJECT, updated_at=s.TIMESTAMP)))
CUSTOMER_REPORT = s.obj(["station_id", "request_id", "complete", "data", "parts"],
                        station_id=s.STRING, request_id=s.INTEGER, complete=s.BOOLEAN,
                        data=s.STRING, parts=s.INTEGER)
CUSTOMER_REPORTS = s.obj(["station_id", "request_ids"], station_id=s.STRING,
                         request_ids=s.array(s.INTEGER))


def _dated(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**row, "updated_at": iso(row["updated_at"])} for row in rows]


@operation("The variable monitors a station holds, as the hub knows them", tags=TAGS,
           parameters=[s.STATION_PATH], response=MONITORS, responses=s.NOT_FOUND,
           description="Kept from the monitors the station accepted from the hub "
                       "(SetVariableMonitoring) and from its NotifyMonitoringReport.")
async def monitors(request: web.Request) -> web.Response:
    hub = hub_of(request)
    station_id = request.match_info["station_id"]
    await require_station(hub, station_id)
    held = await station_holdings.held_monitors(hub, station_id)
    return web.json_response({"station_id": station_id, "monitors": _dated(held)})


@operation("The display messages a station holds, as the hub knows them", tags=TAGS,
           parameters=[s.STATION_PATH], response=MESSAGES, responses=s.NOT_FOUND,
           description="Kept from SetDisplayMessage the station accepted and from its "
                       "NotifyDisplayMessages.")
async def display_messages(request: web.Request) -> web.Response:
    hub = hub_of(request)
    station_id = request.match_info["station_id"]
    await require_station(hub, station_id)
    held = await station_holdings.held_display_messages(hub, station_id)
    return web.json_response({"station_id": station_id, "display_messages": _dated(held)})


@operation("The network connection profiles a station accepted (SetNetworkProfile)",
           tags=TAGS, parameters=[s.STATION_PATH], response=PROFILES, responses=s.NOT_FOUND)
async def network_profiles(request: web.Request) -> web.Response:
    hub = hub_of(request)
    station_id = request.match_info["station_id"]
    await require_station(hub, station_id)
    held = await station_holdings.network_profiles(hub, station_id)
    return web.json_response({"station_id": station_id, "network_profiles": _dated(held)})


@operation("GDPR: a customer-information report a station sent (NotifyCustomerInformation)",
           tags=["ocpp commands"],
           parameters=[s.STATION_QUERY, query("request_id", {"type": "integer", "minimum": 0},
                                              description="without it: the request ids kept")],
           response={"oneOf": [CUSTOMER_REPORT, CUSTOMER_REPORTS]}, responses=s.NOT_FOUND)
async def customer_report(request: web.Request) -> web.Response:
    hub = hub_of(request)
    params = dict(request.query)
    station_id = await station_from(hub, params)
    request_id = int_field(params, "request_id")
    await require_station(hub, station_id)
    kind = report_parts.CUSTOMER_INFORMATION
    if request_id is None:
        ids = await report_parts.reports(hub, station_id, kind)
        return web.json_response({"station_id": station_id, "request_ids": ids})
    report = await report_parts.assembled(hub, station_id, kind, request_id)
    if report is None:
        raise ApiError(404, "unknown_report", f"station {station_id} sent no customer "
                       f"information for request {request_id}", station_id=station_id)
    return web.json_response({"station_id": station_id, "request_id": request_id,
                              "complete": report.complete, "data": report.text,
                              "parts": len(report.parts)})


# Personal data: whoever may ask a station for it may read it, not every read token.
customer_report.scopes = COMMANDS  # type: ignore[attr-defined]


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/stations/{station_id}/monitors", monitors)
    r.add_get("/api/stations/{station_id}/displayMessages", display_messages)
    r.add_get("/api/stations/{station_id}/networkProfiles", network_profiles)
    r.add_get("/api/customerInformation", customer_report)

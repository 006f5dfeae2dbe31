"""Smart charging routes: set, clear and list charging profiles, read a composite schedule.

Both OCPP versions, through ``hub.services.charging_profiles`` (one profile form for both);
``GET /api/chargingProfiles`` answers from the hub's record of what the station holds (its
accepted sends, and a 2.0.1 station's ReportChargingProfiles), without asking the station.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hub.errors import ApiError, bad_request
from hub.management import schemas as s
from hub.management.common import (
    choice_field,
    command_timeout,
    ensure_known,
    hub_of,
    int_field,
    json_body,
    station_from,
)
from hub.openapi import operation, query
from hub.services import charging_profile_record as record
from hub.services import charging_profiles as profiles
from hub.services.station_commands import UnknownTransaction
from hub.services.timestamps import format_timestamp

TAGS = ["smart charging"]
PERIOD = s.obj(["start_period", "limit"],
               start_period={"type": "integer", "minimum": 0, "examples": [0]},
               limit={"type": "number", "minimum": 0, "examples": [16]},
               number_phases={"type": "integer", "minimum": 1, "maximum": 3})
SCHEDULE = s.obj(["charging_rate_unit", "charging_schedule_period"],
                 charging_rate_unit=s.enum(*profiles.UNITS), duration=s.INTEGER,
                 start_schedule={"type": "string", "format": "date-time"},
                 min_charging_rate=s.NUMBER,
                 charging_schedule_period={"type": "array", "minItems": 1,
                                           "maxItems": profiles.MAX_PERIODS, "items": PERIOD})
PROFILE = s.obj(["stack_level", "purpose", "charging_schedule"],
                id={"type": "integer", "minimum": 1,
                    "description": "chosen by the hub when absent"},
                stack_level={"type": "integer", "minimum": 0,
                             "maximum": profiles.MAX_STACK_LEVEL},
                purpose=s.enum(*profiles.PURPOSES), kind=s.enum(*profiles.KINDS),
                recurrency_kind=s.enum(*profiles.RECURRENCY),
                valid_from={"type": "string", "format": "date-time"},
                valid_to={"type": "string", "format": "date-time"},
                transaction_id={"type": "integer", "minimum": 1,
                                "description": "the hub's transaction id (TxProfile only)"},
                charging_schedule=SCHEDULE)
SET_BODY = s.station_body(("charging_profile",), connector_id={
    "type": "integer", "minimum": 0, "description": "1.6 connector / 2.0.1 EVSE; 0: station"},
    charging_profile=PROFILE)
SET_ANSWER = s.obj(["status", "charging_profile"], status=s.STRING, charging_profile=PROFILE)
HELD = s.obj(["connector_id", "source", "charging_profile"], connector_id=s.INTEGER,
             source=s.enum("hub", "report"), updated_at=s.TIMESTAMP, charging_profile=PROFILE)
LIST_ANSWER = s.obj(["station_id", "profiles"], station_id=s.STRING, profiles=s.array(HELD))
COMPOSITE = s.obj(["status", "connector_id"], status=s.STRING, connector_id=s.INTEGER,
                  schedule_start=s.NULLABLE_STRING,
                  charging_schedule={"type": ["object", "null"]})
CONNECTOR_QUERY = query("connector_id", {"type": "integer", "minimum": 0})


def _profile_error(exc: profiles.InvalidProfile) -> ApiError:
    return bad_request(exc.field, exc.message)


@operation("Set a charging profile on a station or connector (SetChargingProfile)", tags=TAGS,
           body=SET_BODY, response=SET_ANSWER, responses=s.COMMAND_ERRORS)
async def set_charging_profile(request: web.Request) -> web.Response:
    hub = hub_of(request)
    body = await json_body(request)
    station_id = await station_from(hub, body)
    connector_id = int_field(body, "connector_id", default=0)
    assert connector_id is not None
    try:
        profile = profiles.validate_profile(body.get("charging_profile"), connector_id)
    except profiles.InvalidProfile as exc:
        raise _profile_error(exc) from None
    await ensure_known(hub, station_id)
    try:
        status = await profiles.set_profile(hub, station_id, connector_id, profile,
                                            command_timeout(body))
    except UnknownTransaction as exc:
        raise ApiError(404, "unknown_transaction", str(exc), station_id=station_id) from None
    return web.json_response({"status": status, "charging_profile": profile})


@operation("Clear charging profiles by id or by criteria (ClearChargingProfile)", tags=TAGS,
           parameters=[s.STATION_QUERY, query("id", {"type": "integer", "minimum": 1}),
                       CONNECTOR_QUERY, query("purpose", s.enum(*profiles.PURPOSES)),
                       query("stack_level", {"type": "integer", "minimum": 0,
                                             "maximum": profiles.MAX_STACK_LEVEL})],
           response=s.STATUS, responses=s.COMMAND_ERRORS,
           description="Without id and criteria, every profile the station holds is cleared.")
async def clear_charging_profiles(request: web.Request) -> web.Response:
    hub = hub_of(request)
    params = dict(request.query)
    station_id = await station_from(hub, params)
    profile_id = int_field(params, "id", minimum=1)
    connector_id = int_field(params, "connector_id")
    purpose = (choice_field(params, "purpose", choices=profiles.PURPOSES)
               if "purpose" in params else None)
    stack_level = int_field(params, "stack_level", maximum=profiles.MAX_STACK_LEVEL)
    await ensure_known(hub, station_id)
    status = await profiles.clear_profiles(hub, station_id, profile_id, connector_id, purpose,
                                           stack_level, command_timeout(params))
    return web.json_response({"status": status})


@operation("The charging profiles a station holds, as the hub knows them", tags=TAGS,
           parameters=[s.STATION_QUERY, CONNECTOR_QUERY], response=LIST_ANSWER,
           responses=s.NOT_FOUND,
           description="Kept from the profiles the station accepted from the hub and from its "
                       "ReportChargingProfiles (2.0.1); the station is not asked.")
async def list_charging_profiles(request: web.Request) -> web.Response:
    hub = hub_of(request)
    params = dict(request.query)
    station_id = await station_from(hub, params)
    connector_id = int_field(params, "connector_id")
    await ensure_known(hub, station_id)
    held = await record.held_profiles(hub, station_id, connector_id)
    for item in held:
        item["updated_at"] = format_timestamp(item["updated_at"])
    return web.json_response({"station_id": station_id, "profiles": held})


@operation("A connector's composite schedule (GetCompositeSchedule)", tags=TAGS,
           parameters=[s.STATION_QUERY, CONNECTOR_QUERY,
                       query("duration", {"type": "integer", "minimum": 1,
                                          "maximum": 7 * 86400}, required=True,
                             description="seconds"),
                       query("charging_rate_unit", s.enum(*profiles.UNITS))],
           response=COMPOSITE, responses=s.COMMAND_ERRORS)
async def composite_schedule(request: web.Request) -> web.Response:
    hub = hub_of(request)
    params = dict(request.query)
    station_id = await station_from(hub, params)
    connector_id = int_field(params, "connector_id", default=0)
    duration = int_field(params, "duration", required=True, minimum=1, maximum=7 * 86400)
    unit = (choice_field(params, "charging_rate_unit", choices=profiles.UNITS)
            if "charging_rate_unit" in params else None)
    assert connector_id is not None and duration is not None
    await ensure_known(hub, station_id)
    answer = await profiles.composite_schedule(hub, station_id, connector_id, duration, unit,
                                               command_timeout(params))
    payload: dict[str, Any] = {"status": answer.status, "connector_id": answer.connector_id,
                               "schedule_start": answer.schedule_start,
                               "charging_schedule": answer.charging_schedule}
    return web.json_response(payload)


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/chargingProfiles", set_charging_profile)
    r.add_delete("/api/chargingProfiles", clear_charging_profiles)
    r.add_get("/api/chargingProfiles", list_charging_profiles)
    r.add_get("/api/compositeSchedule", composite_schedule)

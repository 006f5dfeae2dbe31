"""The routes the previous backend offered (seed 003), with its response shapes, plus the
outbox metrics. All require an admin bearer token (they are the backoffice's, not Hubject's).

    POST /hubject/evse-data     push EVSE data now   -> {"hubject_response": {...}, ...}
    POST /hubject/remote-start  Hubject remote start -> {"status": "Accepted", ...}
    POST /hubject/reserve-now   Hubject reservation  -> {"status": "Accepted", ...}
    POST /hubject/remote-stop   Hubject remote stop  -> {"status": "Accepted", ...}
    POST /api/oicp/sync         push one station's EVSE status now -> {"result": "ok", ...}
    GET  /api/oicp/outbox       outbox depth/age, worker and client counters
    GET  /api/oicp/evse-data/skipped  EVSEs whose data cannot be pushed now, and why
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hub.errors import ApiError, bad_request, unknown_station
from hub.openapi import operation
from oicp.webhooks import ACK_SCHEMA, REQUEST_SCHEMA, read_json, runtime

ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
NOT_CONFIGURED = {"409": {"description": "OICP is not configured ([oicp] operator_id)",
                          "content": ERROR}}
COMMAND_RESULT = {
    "type": "object", "required": ["status", "oicp"],
    "properties": {"status": {"type": "string", "enum": ["Accepted", "Rejected"]},
                   "session_id": {"type": ["string", "null"]},
                   "evse_id": {"type": ["string", "null"]},
                   "station_id": {"type": ["string", "null"]},
                   "connector_id": {"type": ["integer", "null"]},
                   "ocpp_status": {"type": ["string", "null"]},
                   "oicp": ACK_SCHEMA},
}


def _require_enabled(request: web.Request) -> Any:
    rt = runtime(request)
    if not rt.config.enabled:
        raise ApiError(409, "oicp_disabled", "OICP is not configured ([oicp] operator_id)")
    return rt


async def _json_object(request: web.Request, required: bool = True) -> dict[str, Any]:
    body, problem = await read_json(request)
    if problem is not None:
        if not required and "empty" in problem:
            return {}
        raise ApiError(400, "invalid_json", problem, field="body")
    if not isinstance(body, dict):
        raise bad_request("body", "must be a JSON object")
    return body


async def _command(request: web.Request, kind: str) -> web.Response:
    rt = _require_enabled(request)
    body = await _json_object(request)
    action = {"start": rt.remote.start, "stop": rt.remote.stop, "reserve": rt.remote.reserve}
    outcome = await action[kind](body, None)
    return web.json_response({
        "status": "Accepted" if outcome.accepted else "Rejected",
        "session_id": outcome.ack.get("SessionID") or body.get("SessionID"),
        "evse_id": body.get("EvseID"),
        "station_id": outcome.station_id,
        "connector_id": outcome.connector_id,
        "ocpp_status": outcome.ocpp_status,
        "oicp": outcome.ack,
    })


@operation("Remote start as Hubject asks it (legacy route)", tags=["oicp"],
           body=REQUEST_SCHEMA, response=COMMAND_RESULT, responses=NOT_CONFIGURED)
async def legacy_remote_start(request: web.Request) -> web.Response:
    return await _command(request, "start")


@operation("Remote stop as Hubject asks it (legacy route)", tags=["oicp"],
           body=REQUEST_SCHEMA, response=COMMAND_RESULT, responses=NOT_CONFIGURED)
async def legacy_remote_stop(request: web.Request) -> web.Response:
    return await _command(request, "stop")


@operation("Reserve an EVSE from a Hubject reservation payload (legacy route)", tags=["oicp"],
           body=REQUEST_SCHEMA, response=COMMAND_RESULT, responses=NOT_CONFIGURED)
async def legacy_reserve_now(request: web.Request) -> web.Response:
    return await _command(request, "reserve")


@operation("Push EVSE data (PushEvseData v2.3) built from the sites model", tags=["oicp"],
           body={"type": "object", "properties": {
               "action": {"type": "string", "enum": ["fullLoad", "update", "insert", "delete"]},
               "evse_ids": {"type": "array", "items": {"type": "string"}},
               "wait_seconds": {"type": "number"}}},
           response={"type": "object", "required": ["hubject_response"], "properties": {
               "hubject_response": {"type": ["object", "null"]},
               "queued": {"type": "boolean"}, "outbox_id": {"type": ["integer", "null"]},
               "evse_ids": {"type": "array"}, "skipped": {"type": "object"}}},
           responses={"409": {"description": "OICP is not configured, or no published EVSE "
                                             "has complete data", "content": ERROR}})
async def legacy_evse_data(request: web.Request) -> web.Response:
    rt = _require_enabled(request)
    body = await _json_object(request, required=False)
    action = body.get("action", "fullLoad")
    if action not in ("fullLoad", "update", "insert", "delete"):
        raise bad_request("action", "must be fullLoad, update, insert or delete")
    evse_ids = body.get("evse_ids")
    if evse_ids is not None and (not isinstance(evse_ids, list)
                                 or not all(isinstance(e, str) for e in evse_ids)):
        raise bad_request("evse_ids", "must be a list of EvseIDs")
    wait = body.get("wait_seconds", rt.config.request_timeout + 5)
    if not isinstance(wait, int | float) or isinstance(wait, bool) or not 0 <= wait <= 120:
        raise bad_request("wait_seconds", "must be a number from 0 to 120")
    push = await rt.push_evse_data(action, evse_ids)
    if push.outbox_id is None:
        raise ApiError(409, "no_evse_data", "no published EVSE with complete data to push "
                       "(ports need an EvseID, the site an address and coordinates)",
                       skipped=push.skipped)
    result = await rt.worker.wait_for(push.outbox_id, wait) \
        if push.outbox_id is not None and wait else None
    return web.json_response({
        "hubject_response": result.get("answer") if result else None,
        "queued": result is None and push.outbox_id is not None,
        "delivered": bool(result and result.get("delivered")),
        "error": result.get("error") if result else None,
        "outbox_id": push.outbox_id,
        "evse_ids": push.evse_ids,
        "skipped": push.skipped,
    })


@operation("Push one station's EVSE status to Hubject now", tags=["oicp"],
           body={"type": "object", "required": ["station_id"],
                 "properties": {"station_id": {"type": "string"}}},
           response={"type": "object", "required": ["result"], "properties": {
               "result": {"type": "string"}, "station_id": {"type": "string"},
               "statuses": {"type": "object"}}},
           responses={**NOT_CONFIGURED,
                      "404": {"description": "unknown station", "content": ERROR}})
async def oicp_sync(request: web.Request) -> web.Response:
    rt = _require_enabled(request)
    body = await _json_object(request, required=False)
    station_id = body.get("station_id") or request.query.get("station_id")
    if not isinstance(station_id, str) or not station_id:
        raise bad_request("station_id", "is required")
    from hub.db.models import Station

    async with rt.hub.sessions() as session:
        if await session.get(Station, station_id) is None:
            raise unknown_station(station_id)
    statuses = await rt.sync_station(station_id)
    return web.json_response({"result": "ok", "station_id": station_id, "statuses": statuses})


_COUNTS = {"type": "object", "additionalProperties": {"type": "integer"},
           "examples": [{"PushEvseStatus": 12}]}
_LANE = {"type": "object", "required": ["depth", "oldest_age_seconds", "failing"],
         "properties": {"depth": {"type": "integer"}, "oldest_age_seconds": {"type": "number"},
                        "failing": {"type": "integer"}}}
SKIPPED = {"type": "object", "additionalProperties": {"type": "string"},
           "description": "EvseID -> why its EVSE data was left out of the push",
           "examples": [{"DE*ABC*E1001*1": "site 7 has no street"}]}
EVSE_DATA_CHECK = {
    "type": "object", "required": ["skipped"], "properties": {
        "checked_at": {"type": ["string", "null"], "format": "date-time"},
        "published": {"type": "integer", "description": "EVSEs with complete data"},
        "skipped": SKIPPED}}
OUTBOX = {
    "type": "object", "required": ["enabled", "outbox", "worker", "client"], "properties": {
        "enabled": {"type": "boolean"},
        "outbox": {"type": "object", "required": ["depth", "oldest_age_seconds", "failing",
                                                  "lanes"], "properties": {
            "depth": {"type": "integer"}, "oldest_age_seconds": {"type": "number"},
            "failing": {"type": "integer"}, "rejected": {"type": ["integer", "null"]},
            "lanes": {"type": "object", "additionalProperties": _LANE,
                      "examples": [{"status": {"depth": 0, "oldest_age_seconds": 0.0,
                                               "failing": 0}}]}}},
        "worker": {"type": "object", "properties": {
            "active": {"type": "boolean"}, "sent": _COUNTS, "delivered": _COUNTS,
            "rejected": _COUNTS, "retries": _COUNTS, "coalesced": {"type": "integer"},
            "unchanged": {"type": "integer"}, "consecutive_failures": _COUNTS}},
        "client": {"type": "object", "properties": {
            "requests": _COUNTS, "failures": _COUNTS,
            "rate_limit_wait_seconds": {"type": "object",
                                        "additionalProperties": {"type": "number"}}}},
        "authorize": {"type": "object", "properties": {
            "start_requests": {"type": "integer"}, "stop_requests": {"type": "integer"}}},
        "evse_data": {**EVSE_DATA_CHECK,
                      "description": "the last EVSE data push built: EVSEs left out"}}}


@operation("OICP outbox depth and age, worker and client counters, EVSEs the last EVSE "
           "data push left out", tags=["oicp"], response=OUTBOX)
async def oicp_outbox(request: web.Request) -> web.Response:
    return web.json_response(await runtime(request).metrics())


@operation("EVSEs whose data cannot be pushed to Hubject now (e.g. a site without address), "
           "with why", tags=["oicp"], response=EVSE_DATA_CHECK, responses=NOT_CONFIGURED)
async def skipped_evse_data(request: web.Request) -> web.Response:
    rt = _require_enabled(request)
    return web.json_response(await rt.check_evse_data())


def add_legacy_routes(app: web.Application) -> None:
    app.router.add_post("/hubject/evse-data", legacy_evse_data)
    app.router.add_post("/hubject/remote-start", legacy_remote_start)
    app.router.add_post("/hubject/reserve-now", legacy_reserve_now)
    app.router.add_post("/hubject/remote-stop", legacy_remote_stop)
    app.router.add_post("/api/oicp/sync", oicp_sync)
    app.router.add_get("/api/oicp/outbox", oicp_outbox)
    app.router.add_get("/api/oicp/evse-data/skipped", skipped_evse_data)

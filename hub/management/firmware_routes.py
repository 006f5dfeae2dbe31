"""GetDiagnostics and UpdateFirmware routes, in their simple form: the command is sent with the
location the caller gives. The diagnostics issue adds upload locations and request tracking."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from ocpp.v16 import call

from hub.context import Hub
from hub.db.base import utcnow
from hub.management import schemas as s
from hub.management.common import (
    command_timeout,
    hub_of,
    int_field,
    json_body,
    send,
    text_field,
    text_or_json,
    timestamp_field,
)
from hub.openapi import operation
from hub.services.timestamps import format_timestamp

TAGS = ["diagnostics and firmware"]


async def get_diagnostics(hub: Hub, station_id: str, data: dict[str, Any]) -> dict[str, Any]:
    location = text_field(data, "location", max_length=512)
    retries = int_field(data, "retries")
    retry_interval = int_field(data, "retry_interval", "retryInterval")
    start_time = timestamp_field(data, "start_time", "startTime")
    stop_time = timestamp_field(data, "stop_time", "stopTime")
    answer = await send(hub, station_id, call.GetDiagnostics(
        location=location, retries=retries, retry_interval=retry_interval,
        start_time=start_time and format_timestamp(start_time),
        stop_time=stop_time and format_timestamp(stop_time)), command_timeout(data))
    # No fileName in the answer means the station has no diagnostics to upload (OCPP 1.6).
    return {"status": "queued" if answer.file_name else "no_diagnostics_available",
            "station_id": station_id, "location": location, "fileName": answer.file_name}


@operation("Ask a station to upload diagnostics to location (GetDiagnostics)", tags=TAGS,
           body=s.DIAGNOSTICS_BODY,
           response=s.obj(["status", "station_id", "fileName"], status=s.STRING,
                          station_id=s.STRING, fileName=s.NULLABLE_STRING),
           responses=s.COMMAND_ERRORS)
async def get_diagnostics_route(request: web.Request) -> web.Response:
    body = await json_body(request)
    station_id = text_field(body, "station_id", "stationId", max_length=48)
    return web.json_response(await get_diagnostics(hub_of(request), station_id, body))


async def update_firmware(hub: Hub, station_id: str, data: dict[str, Any]) -> dict[str, Any]:
    location = text_field(data, "location", max_length=512)
    retrieve = timestamp_field(data, "retrieve_date", "retrieveDate") or utcnow()
    retries = int_field(data, "retries")
    retry_interval = int_field(data, "retry_interval", "retryInterval")
    # UpdateFirmware.conf has no status: a CALLRESULT is the station's acceptance.
    await send(hub, station_id, call.UpdateFirmware(
        location=location, retrieve_date=format_timestamp(retrieve), retries=retries,
        retry_interval=retry_interval), command_timeout(data))
    return {"status": "Accepted", "station_id": station_id, "location": location,
            "retrieve_date": format_timestamp(retrieve)}


FIRMWARE_ANSWER = s.obj(["status", "station_id", "location"], status=s.STRING,
                        station_id=s.STRING, location=s.STRING, retrieve_date=s.STRING)


@operation("Start a firmware update (UpdateFirmware), JSON body", tags=TAGS,
           body=s.FIRMWARE_BODY, response=FIRMWARE_ANSWER, responses=s.COMMAND_ERRORS)
async def update_firmware_route(request: web.Request) -> web.Response:
    body = await json_body(request)
    station_id = text_field(body, "station_id", "stationId", max_length=48)
    return web.json_response(await update_firmware(hub_of(request), station_id, body))


@operation("Start a firmware update from query parameters (text answer; JSON if Accept asks)",
           tags=TAGS, parameters=[
               s.STATION_PATH, s.query("location", s.STRING, required=True),
               s.query("retrieve_date", s.STRING), s.query("retries", s.INTEGER),
               s.query("retry_interval", s.INTEGER)],
           responses=s.COMMAND_ERRORS)
async def update_firmware_get(request: web.Request) -> web.Response:
    station_id = request.match_info["station_id"]
    result = await update_firmware(hub_of(request), station_id, dict(request.query))
    return text_or_json(request, f"UpdateFirmware gesendet an {station_id}", result)


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/getDiagnostics", get_diagnostics_route)
    r.add_post("/api/updateFirmware", update_firmware_route)
    r.add_get("/updateFirmware/{station_id}", update_firmware_get)

"""GetDiagnostics, GetLog and UpdateFirmware routes: they start the request cycles of
hub.files (upload location, command, tracking to the file / to Installed).

Without a ``location`` the hub receives the diagnostics itself (HTTP, or FTP with
``transport: "ftp"``); with one, the station uploads there and the hub tracks its notifications.
Firmware: ``firmware`` names an image uploaded to the hub (served with a per-request token),
or ``location`` is an external URL. ``signing_certificate`` + ``signature`` make it a
SignedUpdateFirmware for 1.6 stations; 2.0.1 stations always get their UpdateFirmware (and
GetLog instead of GetDiagnostics). Every answer carries the ``request_id`` to follow at
/api/diagnostics/requests/{id} or /api/firmware/requests/{id}.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hub.files import diagnostics, firmware
from hub.files.service import FILES
from hub.management import schemas as s
from hub.management.common import (
    choice_field,
    command_timeout,
    ensure_known,
    hub_of,
    int_field,
    json_body,
    text_field,
    text_or_json,
    timestamp_field,
)
from hub.management.route_policy import call_params
from hub.openapi import operation
from hub.services.timestamps import format_timestamp

TAGS = ["diagnostics and firmware"]
TRANSPORT = s.enum("http", "ftp")
LOCATION = {"type": "string", "format": "uri", "maxLength": 512,
            "description": "an external upload location; omit to have the hub receive it"}
DIAGNOSTICS_BODY = s.station_body(
    location=LOCATION, transport=TRANSPORT, retries=s.INTEGER, retry_interval=s.INTEGER,
    start_time=s.STRING, stop_time=s.STRING,
    use_get_log={"type": "boolean", "description": "send GetLog to a 1.6 station too"})
LOG_BODY = s.station_body(
    log_type=s.enum("DiagnosticsLog", "SecurityLog"), location=LOCATION, transport=TRANSPORT,
    retries=s.INTEGER, retry_interval=s.INTEGER, oldest_timestamp=s.STRING,
    latest_timestamp=s.STRING)
FIRMWARE_BODY = s.station_body(
    firmware={"type": "string", "maxLength": 200,
              "description": "name of a firmware image uploaded to the hub"},
    location={"type": "string", "format": "uri", "maxLength": 512,
              "description": "an external firmware URL (instead of firmware)"},
    retrieve_date=s.STRING, install_date=s.STRING, retries=s.INTEGER,
    retry_interval=s.INTEGER, signing_certificate={"type": "string", "maxLength": 5500},
    signature={"type": "string", "maxLength": 800})
DIAGNOSTICS_ANSWER = s.obj(["status", "station_id", "request_id", "fileName"],
                           status=s.STRING, station_id=s.STRING, request_id=s.INTEGER,
                           fileName=s.NULLABLE_STRING, location=s.STRING, transport=s.STRING,
                           action=s.STRING)
FIRMWARE_ANSWER = s.obj(["status", "station_id", "location", "request_id"], status=s.STRING,
                        station_id=s.STRING, location=s.STRING, retrieve_date=s.STRING,
                        request_id=s.INTEGER, action=s.STRING)
ERRORS = {**s.COMMAND_ERRORS,
          "409": s.error("station offline, or FTP asked for while the FTP server is off")}


def _diagnostics_ask(data: dict[str, Any], *, get_log: bool) -> diagnostics.DiagnosticsAsk:
    location = text_field(data, "location", required=False, max_length=512)
    transport = (choice_field(data, "transport", choices=("http", "ftp"))
                 if data.get("transport") is not None else None)
    names = ("oldest_timestamp", "oldestTimestamp", "start_time", "startTime")
    latest = ("latest_timestamp", "latestTimestamp", "stop_time", "stopTime")
    start = timestamp_field(data, *(names if get_log else names[2:]))
    stop = timestamp_field(data, *(latest if get_log else latest[2:]))
    use_get_log = get_log or str(data.get("use_get_log", "")).lower() in ("true", "1")
    return diagnostics.DiagnosticsAsk(
        location=location, transport=transport,
        use_get_log=use_get_log,
        log_type=choice_field(data, "log_type", "logType",
                              choices=("DiagnosticsLog", "SecurityLog"),
                              default="DiagnosticsLog"),
        start_time=start, stop_time=stop, retries=int_field(data, "retries"),
        retry_interval=int_field(data, "retry_interval", "retryInterval"),
        timeout=command_timeout(data))


async def get_diagnostics(request: web.Request, station_id: str, data: dict[str, Any],
                          *, get_log: bool = False) -> dict[str, Any]:
    ask = _diagnostics_ask(data, get_log=get_log)
    hub = hub_of(request)
    await ensure_known(hub, station_id)
    files = request.app[FILES]
    started = await diagnostics.start(files, station_id, ask, files.base_url(request))
    answer = {"status": started.status, "station_id": station_id,
              "request_id": started.request_id, "fileName": started.file_name,
              "location": started.location, "transport": started.transport,
              "action": started.action}
    if get_log:
        answer["status"] = started.station_status or started.status
        answer["filename"] = started.file_name
    return answer


@operation("Ask a station for its diagnostics (GetDiagnostics; GetLog for 2.0.1) and track "
           "the upload", tags=TAGS, body=DIAGNOSTICS_BODY, response=DIAGNOSTICS_ANSWER,
           responses=ERRORS)
async def get_diagnostics_route(request: web.Request) -> web.Response:
    body = await json_body(request)
    station_id = text_field(body, "station_id", "stationId", max_length=48)
    assert station_id is not None
    return web.json_response(await get_diagnostics(request, station_id, body))


@operation("Ask a station for a log (GetLog: Security Whitepaper / 2.0.1) and track the upload",
           tags=TAGS, body=LOG_BODY, response=DIAGNOSTICS_ANSWER, responses=ERRORS)
async def get_log_route(request: web.Request) -> web.Response:
    body = await json_body(request)
    station_id = text_field(body, "station_id", "stationId", max_length=48)
    assert station_id is not None
    return web.json_response(await get_diagnostics(request, station_id, body, get_log=True))


async def update_firmware(request: web.Request, station_id: str,
                          data: dict[str, Any]) -> dict[str, Any]:
    name = text_field(data, "firmware", "firmware_name", required=False, max_length=200)
    location = text_field(data, "location", required=name is None, max_length=512)
    ask = firmware.FirmwareAsk(
        firmware=name, location=None if name else location,
        retrieve_date=timestamp_field(data, "retrieve_date", "retrieveDate"),
        install_date=timestamp_field(data, "install_date", "installDate"),
        retries=int_field(data, "retries"),
        retry_interval=int_field(data, "retry_interval", "retryInterval"),
        signing_certificate=text_field(data, "signing_certificate", "signingCertificate",
                                       required=False, max_length=5500),
        signature=text_field(data, "signature", required=False, max_length=800),
        timeout=command_timeout(data))
    hub = hub_of(request)
    await ensure_known(hub, station_id)
    files = request.app[FILES]
    started = await firmware.start(files, station_id, ask, files.base_url(request))
    return {"status": started.status, "station_id": station_id, "location": started.location,
            "retrieve_date": format_timestamp(started.retrieve_date),
            "request_id": started.request_id, "action": started.action}


@operation("Start a firmware update (UpdateFirmware / SignedUpdateFirmware), JSON body",
           tags=TAGS, body=FIRMWARE_BODY, response=FIRMWARE_ANSWER,
           responses={**ERRORS, "404": s.error("unknown station or firmware")})
async def update_firmware_route(request: web.Request) -> web.Response:
    body = await json_body(request)
    station_id = text_field(body, "station_id", "stationId", max_length=48)
    assert station_id is not None
    return web.json_response(await update_firmware(request, station_id, body))


@operation("Start a firmware update from query parameters (text answer; JSON if Accept asks)",
           tags=TAGS, parameters=[
               s.STATION_PATH, s.query("location", s.STRING), s.query("firmware", s.STRING),
               s.query("retrieve_date", s.STRING), s.query("retries", s.INTEGER),
               s.query("retry_interval", s.INTEGER)],
           responses={**s.text_or_json("UpdateFirmware gesendet an CP-1", FIRMWARE_ANSWER),
                      **ERRORS, "404": s.error("unknown station or firmware")})
async def update_firmware_get(request: web.Request) -> web.Response:
    station_id = request.match_info["station_id"]
    result = await update_firmware(request, station_id, await call_params(request))
    return text_or_json(request, f"UpdateFirmware gesendet an {station_id}", result)


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/getDiagnostics", get_diagnostics_route)
    r.add_post("/api/getLog", get_log_route)
    r.add_post("/api/updateFirmware", update_firmware_route)
    r.add_get("/updateFirmware/{station_id}", update_firmware_get)

"""The seed REST API's /WallboxManagement routes: stations (create with an optional security
profile 1/2 password, list, update) and their stored configuration."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from aiohttp import web

from hub.db.base import utcnow
from hub.db.models import Station, StationConfigurationKey
from hub.errors import ApiError, bad_request, unknown_station
from hub.management import schemas as s
from hub.management.common import (
    MISSING,
    choice_field,
    hub_of,
    int_field,
    iso,
    json_body,
    pick,
    require_station,
    text_field,
)
from hub.management.ocpp_routes import set_configuration
from hub.ocpp_server.endpoint import MAX_STATION_ID, valid_station_id
from hub.openapi import operation
from hub.services.stations import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, hash_password

TAGS = ["wallboxes"]
REGISTRATION = ("Accepted", "Pending", "Rejected")
PASSWORD: s.Schema = {"type": ["string", "null"], "minLength": MIN_PASSWORD_LENGTH,
                      "maxLength": MAX_PASSWORD_LENGTH,
                      "description": "HTTP Basic password (security profiles 1/2); null = none"}
WALLBOX_BODY = s.obj(["station_id"], station_id=s.STATION_ID, password=PASSWORD,
                     registration_status=s.enum(*REGISTRATION))
WALLBOX_ANSWER = s.obj(["status", "station"], status=s.STRING, station=s.WALLBOX)


def wallbox_view(row: Station, live: Any) -> dict[str, Any]:
    return {"station_id": row.id, "registration_status": row.registration_status,
            "has_password": row.password_hash is not None, "connected": live is not None,
            "ocpp_version": live.ocpp_version if live else row.ocpp_version,
            "vendor": row.vendor, "model": row.model, "serial_number": row.serial_number,
            "firmware_version": row.firmware_version,
            "last_seen": iso(live.last_seen_at if live else row.last_seen_at),
            "local_list_version": row.local_list_version, "created_at": iso(row.created_at)}


def _password_hash(body: dict[str, Any]) -> str | None:
    password = body.get("password")
    if password is None:
        return None
    if not isinstance(password, str):
        raise bad_request("password", "must be a string")
    try:
        return hash_password(password)
    except ValueError as exc:
        raise bad_request("password", str(exc)) from None


@operation("Stored configuration of a charge point (as last read from or written to it)",
           tags=TAGS, parameters=[s.STATION_QUERY],
           response=s.obj(["station_id", "configuration"], station_id=s.STRING,
                          configuration=s.array(s.obj(["key", "value", "readonly"],
                                                      key=s.STRING, value=s.NULLABLE_STRING,
                                                      readonly={"type": ["boolean", "null"]},
                                                      updated_at=s.TIMESTAMP))),
           responses=s.NOT_FOUND)
async def charge_point_configuration(request: web.Request) -> web.Response:
    hub = hub_of(request)
    station_id = text_field(dict(request.query), "station_id", "chargePointId", "stationId",
                            max_length=48)
    await require_station(hub, station_id)
    async with hub.sessions() as session:
        rows = (await session.execute(sa.select(StationConfigurationKey).where(
            StationConfigurationKey.station_id == station_id).order_by(
            StationConfigurationKey.key))).scalars().all()
    return web.json_response({"station_id": station_id, "configuration": [
        {"key": r.key, "value": r.value, "readonly": r.readonly, "updated_at": iso(r.updated_at)}
        for r in rows]})


@operation("Register a wallbox (station), optionally with a password", tags=TAGS,
           body=WALLBOX_BODY, response=WALLBOX_ANSWER, responses=s.CONFLICT, status=201)
async def add_wallbox(request: web.Request) -> web.Response:
    hub = hub_of(request)
    body = await json_body(request)
    station_id = text_field(body, "station_id", "stationId", "chargePointId",
                            max_length=MAX_STATION_ID)
    if not valid_station_id(station_id):
        raise bad_request("station_id", "must be printable ASCII without spaces or "
                                        "URL delimiters")
    status = choice_field(body, "registration_status", "registrationStatus",
                          choices=REGISTRATION, default="Accepted")
    password_hash = _password_hash(body)
    row = Station(id=station_id, registration_status=status, password_hash=password_hash,
                  connected=False, created_at=utcnow())
    try:
        async with hub.sessions() as session, session.begin():
            if await session.get(Station, station_id) is not None:
                raise ApiError(409, "station_exists", f"station {station_id} already exists",
                               station_id=station_id)
            session.add(row)
    except sa.exc.IntegrityError:
        raise ApiError(409, "station_exists", f"station {station_id} already exists",
                       station_id=station_id) from None
    return web.json_response({"status": "created", "station": wallbox_view(
        row, hub.stations.get(station_id))}, status=201)


@operation("All wallboxes (stations), by id", tags=TAGS,
           parameters=[s.LIMIT_QUERY, s.OFFSET_QUERY],
           response=s.obj(["wallboxes", "count", "total"], wallboxes=s.array(s.WALLBOX),
                          count=s.INTEGER, total=s.INTEGER))
async def all_wallboxes(request: web.Request) -> web.Response:
    hub = hub_of(request)
    params = dict(request.query)
    limit = int_field(params, "limit", default=100, minimum=1, maximum=1000)
    offset = int_field(params, "offset", default=0)
    async with hub.sessions() as session:
        rows = (await session.execute(sa.select(Station).order_by(Station.id).offset(
            offset).limit(limit))).scalars().all()
        total = (await session.execute(sa.select(sa.func.count()).select_from(Station))).scalar()
    views = [wallbox_view(row, hub.stations.get(row.id)) for row in rows]
    return web.json_response({"wallboxes": views, "count": len(views), "total": total,
                              "limit": limit, "offset": offset})


@operation("Update a wallbox: password (null removes it) and/or registration status",
           tags=TAGS, body=WALLBOX_BODY, response=WALLBOX_ANSWER, responses=s.NOT_FOUND)
async def update_wallbox(request: web.Request) -> web.Response:
    hub = hub_of(request)
    body = await json_body(request)
    station_id = text_field(body, "station_id", "stationId", "chargePointId", max_length=48)
    values: dict[str, Any] = {}
    if "password" in body:
        values["password_hash"] = _password_hash(body)
    if pick(body, "registration_status", "registrationStatus") is not MISSING:
        values["registration_status"] = choice_field(
            body, "registration_status", "registrationStatus", choices=REGISTRATION)
    if not values:
        raise bad_request("body", "nothing to update: give password and/or registration_status")
    async with hub.sessions() as session, session.begin():
        row = await session.get(Station, station_id)
        if row is None:
            raise unknown_station(station_id)
        for key, value in values.items():
            setattr(row, key, value)
    return web.json_response({"status": "updated", "station": wallbox_view(
        row, hub.stations.get(station_id))})


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/WallboxManagement/getChargePointConfiguration", charge_point_configuration)
    r.add_post("/WallboxManagement/setConfiguration", set_configuration)
    r.add_post("/WallboxManagement/AddWallbox", add_wallbox)
    r.add_get("/WallboxManagement/GetAllWallboxes", all_wallboxes)
    r.add_patch("/WallboxManagement/UpdateWallbox", update_wallbox)

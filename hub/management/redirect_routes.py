"""Broker redirects (the seed's ``/api/op_redirects``, ``/setRedirect``,
``/WallboxManagement/createRedirect``, ``/refreshStationList``): relay or mirror a station's OCPP
connection to another backend. The relay itself is ``hub/ocpp_server/relay.py``; the stored
redirects and their rules are ``hub/services/redirects.py``.

A change applies at the station's next connection, or at once with ``reconnect``: the hub then
closes the station's socket (code 1012) and the charger reconnects on its own.
"""

from __future__ import annotations

import os
import ssl
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from hub.auth import REQUEST_TOKEN
from hub.context import Hub
from hub.db.models_redirects import RedirectEvent, StationRedirect
from hub.errors import ApiError, bad_request
from hub.management import schemas as s
from hub.management.common import (
    MISSING,
    bool_field,
    choice_field,
    hub_of,
    iso,
    json_body,
    text_field,
    text_or_json,
)
from hub.ocpp_server.endpoint import valid_station_id
from hub.ocpp_server.upstream import RELAY, RelayRuntime, tls_context
from hub.openapi import operation, query
from hub.services import redirects

TAGS = ["broker"]
RECONNECT_CODE = 1012  # "service restart": the charger reconnects and gets the new route
MODE = s.enum(*redirects.MODES)
REDIRECT = s.obj(
    ["station_id", "target_url", "mode", "enabled", "upstream_password_set",
     "station_connected", "upstream_connected"],
    station_id=s.STRING, target_url=s.STRING, upstream_url=s.STRING, mode=MODE,
    enabled=s.BOOLEAN, upstream_password_set=s.BOOLEAN, client_cert=s.NULLABLE_STRING,
    client_key=s.NULLABLE_STRING, ca_bundle=s.NULLABLE_STRING, station_connected=s.BOOLEAN,
    active_mode={"type": ["string", "null"], "enum": [*redirects.MODES, None]},
    upstream_connected=s.BOOLEAN, frames_to_upstream=s.INTEGER,
    frames_from_upstream=s.INTEGER, frames_dropped=s.INTEGER, last_error=s.NULLABLE_STRING,
    last_error_at=s.TIMESTAMP, created_at=s.TIMESTAMP, updated_at=s.TIMESTAMP,
    updated_by=s.NULLABLE_STRING)
REDIRECT_BODY = {
    "type": "object", "required": ["station_id"], "additionalProperties": True,
    "properties": {
        "station_id": s.STATION_ID,
        "target_url": {"type": "string", "maxLength": redirects.MAX_URL,
                       "examples": ["wss://backend.example.com/ocpp"],
                       "description": "ws:// or wss://; {station_id} is replaced, else the "
                                      "station id is appended (required to create)"},
        "mode": MODE, "enabled": s.BOOLEAN,
        "upstream_password": {"type": ["string", "null"], "maxLength": 255,
                              "description": "HTTP Basic password towards the upstream; "
                                             "never returned; null or \"\" clears it"},
        "client_cert": s.NULLABLE_STRING, "client_key": s.NULLABLE_STRING,
        "ca_bundle": s.NULLABLE_STRING,
        "reconnect": {"type": "boolean", "description": "close the station's socket now"},
    },
}
HISTORY = s.obj(["station_id", "history"], station_id=s.STRING, history=s.array(s.obj(
    ["at", "action"], at=s.TIMESTAMP, actor=s.NULLABLE_STRING, action=s.STRING,
    target_url=s.NULLABLE_STRING, mode={"type": ["string", "null"]},
    enabled={"type": ["boolean", "null"]}, detail=s.NULLABLE_STRING)))


def runtime_of(request: web.Request) -> RelayRuntime:
    return request.app[RELAY]


def actor_of(request: web.Request) -> str | None:
    token = request.get(REQUEST_TOKEN)
    return token.name if token is not None else None


def redirect_view(hub: Hub, runtime: RelayRuntime, row: StationRedirect) -> dict[str, Any]:
    """A redirect with its live state; never the password, only whether one is set."""
    stats = runtime.stats.get(row.station_id)
    live = stats.view() if stats else {"upstream_connected": False, "frames_to_upstream": 0,
                                       "frames_from_upstream": 0, "frames_dropped": 0}
    newer_error = stats is not None and stats.last_error is not None
    return {
        "station_id": row.station_id, "target_url": row.target_url,
        "upstream_url": redirects.from_row(row).upstream_url(), "mode": row.mode,
        "enabled": row.enabled, "upstream_password_set": bool(row.upstream_password),
        "client_cert": row.client_cert, "client_key": row.client_key,
        "ca_bundle": row.ca_bundle,
        "station_connected": row.station_id in hub.stations,
        "active_mode": stats.active_mode if stats else None,
        **live,
        "last_error": stats.last_error if newer_error else row.last_error,
        "last_error_at": (iso(_from_epoch(stats.last_error_at)) if newer_error
                          else iso(row.last_error_at)),
        "created_at": iso(row.created_at), "updated_at": iso(row.updated_at),
        "updated_by": row.updated_by,
    }


def _from_epoch(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def event_view(event: RedirectEvent) -> dict[str, Any]:
    return {"at": iso(event.at), "actor": event.actor, "action": event.action,
            "target_url": event.target_url, "mode": event.mode, "enabled": event.enabled,
            "detail": event.detail}


# -- input ---------------------------------------------------------------------------------------


async def _station_field(hub: Hub, data: dict[str, Any]) -> str:
    station_id = text_field(data, "station_id", "stationId", "chargePointId", max_length=48)
    assert station_id is not None
    if not valid_station_id(station_id) or not await redirects.station_exists(hub, station_id):
        raise bad_request("station_id", f"unknown station {station_id!r}")
    return station_id


async def _requested_changes(request: web.Request, data: dict[str, Any],
                             *target_names: str
                             ) -> tuple[str, StationRedirect | None, dict[str, Any]]:
    """The station, its redirect (None: none yet) and the mode/enabled/target changes a
    create-or-update form asks for (a target is required only to create)."""
    hub = hub_of(request)
    station_id = await _station_field(hub, data)
    existing = await redirects.get(hub, station_id)
    target = _target_field(request, data, *target_names, required=existing is None)
    changes: dict[str, Any] = {
        "mode": choice_field(data, "mode", choices=redirects.MODES,
                             default=existing.mode if existing else "relay"),
        "enabled": bool_field(data, "enabled", existing.enabled if existing else True)}
    if target is not None:
        changes["target_url"] = target
    return station_id, existing, changes


def _target_field(request: web.Request, data: dict[str, Any], *names: str,
                  required: bool) -> str | None:
    url = text_field(data, *names, required=required, max_length=redirects.MAX_URL)
    if url is None:
        return None
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    local = (str(sockname[0]), int(sockname[1])) if sockname else None
    problem = redirects.target_url_problem(url, redirects.own_addresses(
        hub_of(request).config, local))
    if problem:
        raise bad_request(names[0], problem)
    return url


def _password_field(data: dict[str, Any]) -> Any:
    if "upstream_password" not in data:
        return MISSING
    value = data["upstream_password"]
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 255 or "\x00" in value:
        raise bad_request("upstream_password", "must be a string of at most 255 characters")
    return value


def _tls_fields(data: dict[str, Any], target_url: str) -> dict[str, Any]:
    """client_cert / client_key / ca_bundle: PEM files the hub can read, for wss:// only."""
    given = {name: data[name] for name in ("client_cert", "client_key", "ca_bundle")
             if name in data}
    for name, value in given.items():
        if value is None or value == "":
            given[name] = None
            continue
        if not isinstance(value, str) or len(value) > 500 or not os.path.isfile(value):
            raise bad_request(name, "must be the path of a readable PEM file on the hub")
        if not target_url.startswith("wss://"):
            raise bad_request(name, "is only used with a wss:// target_url")
    if given.get("client_cert"):
        try:
            tls_context(given["client_cert"], given.get("client_key"), given.get("ca_bundle"))
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise bad_request("client_cert", f"could not be loaded ({type(exc).__name__})"
                              ) from None
    return given


async def _apply(request: web.Request, station_id: str, changes: dict[str, Any],
                 reconnect: bool, only_if_missing: bool = False
                 ) -> tuple[StationRedirect, bool]:
    hub, runtime = hub_of(request), runtime_of(request)
    row, created = await redirects.save(hub, station_id, changes, actor_of(request),
                                        only_if_missing=only_if_missing)
    runtime.put(redirects.from_row(row))
    if reconnect:
        await _reconnect(hub, station_id)
    return row, created


async def _reconnect(hub: Hub, station_id: str) -> None:
    live = hub.stations.get(station_id)
    if live is not None:
        await live.ws.close(code=RECONNECT_CODE, message=b"redirect changed")


# -- routes --------------------------------------------------------------------------------------


@operation("Broker redirects with their live state", tags=TAGS,
           response=s.obj(["op_redirects", "count"], op_redirects=s.array(REDIRECT),
                          count=s.INTEGER))
async def list_redirects(request: web.Request) -> web.Response:
    hub, runtime = hub_of(request), runtime_of(request)
    rows = await redirects.list_rows(hub)
    views = [redirect_view(hub, runtime, row) for row in rows]
    return web.json_response({"op_redirects": views, "count": len(views)})


@operation("Create or update a station's redirect (relay or mirror)", tags=TAGS,
           body=REDIRECT_BODY, response=REDIRECT,
           responses={"201": {"description": "Created",
                              "content": {"application/json": {"schema": REDIRECT}}}})
async def put_redirect(request: web.Request) -> web.Response:
    hub = hub_of(request)
    data = await json_body(request)
    station_id, existing, changes = await _requested_changes(request, data, "target_url",
                                                             "targetUrl")
    changes.update(_tls_fields(data, changes.get("target_url") or
                               (existing.target_url if existing else "")))
    password = _password_field(data)
    if password is not MISSING:
        changes["upstream_password"] = password
    reconnect = bool(bool_field(data, "reconnect", False))
    row, created = await _apply(request, station_id, changes, reconnect)
    return web.json_response(redirect_view(hub, runtime_of(request), row),
                             status=201 if created else 200)


@operation("Remove a station's redirect (the hub is its backend again)", tags=TAGS,
           parameters=[s.STATION_PATH, query("reconnect", s.BOOLEAN,
                                             description="close the station's socket now")],
           response=s.obj(["deleted", "station_id"], deleted=s.BOOLEAN, station_id=s.STRING),
           responses=s.NOT_FOUND)
async def delete_redirect(request: web.Request) -> web.Response:
    hub = hub_of(request)
    station_id = request.match_info["station_id"]
    reconnect = bool(bool_field(dict(request.query), "reconnect", False))
    if not await redirects.delete(hub, station_id, actor_of(request)):
        raise ApiError(404, "unknown_redirect", f"station {station_id} has no redirect",
                       station_id=station_id)
    runtime_of(request).forget(station_id)
    if reconnect:
        await _reconnect(hub, station_id)
    return web.json_response({"deleted": True, "station_id": station_id})


@operation("Who changed a station's redirect, when, and to what", tags=TAGS,
           parameters=[s.STATION_PATH], response=HISTORY, responses=s.NOT_FOUND)
async def redirect_history(request: web.Request) -> web.Response:
    hub = hub_of(request)
    station_id = request.match_info["station_id"]
    events = await redirects.history(hub, station_id)
    if not events and not await redirects.station_exists(hub, station_id):
        raise ApiError(404, "unknown_station", f"station {station_id} is not registered",
                       station_id=station_id)
    return web.json_response({"station_id": station_id,
                              "history": [event_view(e) for e in events]})


@operation("The seed's redirect form: create or update by query parameters", tags=TAGS,
           parameters=[s.STATION_QUERY,
                       query("target", s.STRING, description="ws:// or wss:// URL (required "
                             "to create)"),
                       query("enabled", s.BOOLEAN), query("mode", MODE),
                       query("reconnect", s.BOOLEAN)],
           response=s.obj(["result", "redirect"], result=s.STRING, redirect=REDIRECT))
async def set_redirect(request: web.Request) -> web.Response:
    hub = hub_of(request)
    data = dict(request.query)
    station_id, _, changes = await _requested_changes(request, data, "target", "target_url")
    row, _ = await _apply(request, station_id, changes,
                          bool(bool_field(data, "reconnect", False)))
    return web.json_response({"result": "ok",
                              "redirect": redirect_view(hub, runtime_of(request), row)})


@operation("The seed's createRedirect: creates a relay redirect only if the station has none",
           tags=TAGS,
           body={"type": "object", "required": ["station_id", "target_url"],
                 "additionalProperties": True,
                 "properties": {"station_id": s.STATION_ID,
                                "target_url": REDIRECT_BODY["properties"]["target_url"]}},
           response=s.obj(["result", "redirect"], result=s.enum("created", "exists"),
                          redirect=REDIRECT),
           responses={"201": {"description": "Created", "content": {"application/json": {
               "schema": s.obj(["result", "redirect"], result=s.STRING,
                               redirect=REDIRECT)}}}})
async def create_redirect(request: web.Request) -> web.Response:
    hub = hub_of(request)
    data = await json_body(request)
    station_id = await _station_field(hub, data)
    target = _target_field(request, data, "target_url", "targetUrl", "target", required=True)
    mode = choice_field(data, "mode", choices=redirects.MODES, default="relay")
    row, created = await _apply(request, station_id, {"target_url": target, "mode": mode,
                                                      "enabled": True},
                                reconnect=False, only_if_missing=True)
    return web.json_response(
        {"result": "created" if created else "exists",
         "redirect": redirect_view(hub, runtime_of(request), row)},
        status=201 if created else 200)


@operation("Reload what the hub caches about stations' redirects; text answer (\"done.\"), "
           "JSON ({\"result\", \"redirects\"}) if Accept asks", tags=TAGS,
           responses=s.text_or_json("done.", s.obj(["result", "redirects"], result=s.STRING,
                                                   redirects=s.INTEGER)))
async def refresh_station_list(request: web.Request) -> web.Response:
    count = await runtime_of(request).reload()
    return text_or_json(request, "done.", {"result": "done", "redirects": count})


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/op_redirects", list_redirects)
    r.add_post("/api/op_redirects", put_redirect)
    r.add_delete("/api/op_redirects/{station_id}", delete_redirect)
    r.add_get("/api/op_redirects/{station_id}/history", redirect_history)
    r.add_get("/setRedirect", set_redirect)
    r.add_post("/WallboxManagement/createRedirect", create_redirect)
    r.add_get("/refreshStationList", refresh_station_list)

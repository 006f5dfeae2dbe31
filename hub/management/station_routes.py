"""The operator's word on a station's identity, and the security events about stations.

- ``GET|PATCH /api/stations/{station_id}/identity``: the owning organisation and the SECC IDs
  (reading needs `read`, changing `admin`). The answer also lists ``certificate_names``,
  every CN the station's certificates may carry (its id, its SECC IDs, the EvseIDs of its ports).
- ``GET /api/security-events``: what stations reported (SecurityEventNotification, ``source``
  ``station``) and what the hub detected itself (e.g. a refused CSR, ``source`` ``hub``).
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from aiohttp import web

from hub.certificate_store import DatabaseCertificateStore
from hub.db.models import Station, StationNotification
from hub.errors import bad_request
from hub.management import schemas as s
from hub.management.common import (
    MISSING,
    hub_of,
    int_field,
    iso,
    json_body,
    require_station,
    text_field,
)
from hub.openapi import operation
from hub.services import station_identity
from hub.services.security_events import HUB_SECURITY_EVENT, STATION_SECURITY_EVENT

TAGS = ["stations"]
_IDENTITY = {
    "type": "object",
    "required": ["station_id", "organization_id", "secc_ids", "certificate_names"],
    "properties": {
        "station_id": {"type": "string"},
        "organization_id": {"type": ["string", "null"],
                            "description": "key of the owning organisation"},
        "secc_ids": {"type": "array", "items": {"type": "string"}},
        "certificate_names": {"type": "array", "items": {"type": "string"}},
    },
}
_IDENTITY_PATCH = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "organization_id": {"type": ["string", "null"],
                            "description": "owning organisation's key; null: no owner"},
        "secc_ids": {"type": "array", "items": {"type": "string"},
                     "description": "replaces the list; [] removes every SECC ID"},
    },
}
_STATION_PARAM = {"name": "station_id", "in": "path", "required": True,
                  "schema": {"type": "string"}}
_SOURCES = {"hub": (HUB_SECURITY_EVENT,), "station": (STATION_SECURITY_EVENT,)}


async def _identity(request: web.Request, station_id: str) -> dict[str, Any]:
    hub = hub_of(request)
    async with hub.sessions() as session:
        station = await session.get(Station, station_id)
        secc_ids = await station_identity.secc_ids_of(session, station_id)
    names = await DatabaseCertificateStore(hub.sessions).station_identities(station_id)
    return {"station_id": station_id,
            "organization_id": None if station is None else station.organisation_key,
            "secc_ids": secc_ids, "certificate_names": names or []}


@operation("A station's provisioned identity: owner, SECC IDs, certificate names", tags=TAGS,
           parameters=[_STATION_PARAM], response=_IDENTITY,
           responses={"404": {"description": "unknown station"}})
async def get_identity(request: web.Request) -> web.Response:
    station_id = request.match_info["station_id"]
    await require_station(hub_of(request), station_id)
    return web.json_response(await _identity(request, station_id))


def _patch(body: dict[str, Any], secc_syntax: Any) -> dict[str, Any]:
    unknown = sorted(set(body) - {"organization_id", "secc_ids"})
    if unknown:
        raise bad_request(unknown[0], "is not a field of a station's identity")
    changes: dict[str, Any] = {}
    organisation = body.get("organization_id", MISSING)
    if organisation is not MISSING:
        if organisation is not None and (not isinstance(organisation, str)
                                         or not 0 < len(organisation) <= 64
                                         or "\x00" in organisation):
            raise bad_request("organization_id", "must be an organisation key or null")
        changes["organisation"] = organisation
    if "secc_ids" in body:
        values = body["secc_ids"]
        if not isinstance(values, list):
            raise bad_request("secc_ids", "must be a list of SECC IDs / EVSE IDs")
        changes["secc_ids"] = station_identity.check_secc_ids(values, secc_syntax)
    return changes


@operation("Set a station's owning organisation and/or SECC IDs (admin)", tags=TAGS,
           parameters=[_STATION_PARAM], body=_IDENTITY_PATCH, response=_IDENTITY,
           responses={"400": {"description": "a field is invalid (named in the answer)"},
                      "404": {"description": "unknown station"}})
async def patch_identity(request: web.Request) -> web.Response:
    hub = hub_of(request)
    station_id = request.match_info["station_id"]
    await require_station(hub, station_id)
    try:
        changes = _patch(await json_body(request), hub.secc_id_syntax)
        async with hub.sessions() as session, session.begin():
            station = await session.get(Station, station_id)
            if station is None:  # deleted meanwhile
                await require_station(hub, station_id)
            await station_identity.provision(session, station, **changes)
    except station_identity.ProvisioningError as exc:
        raise bad_request(exc.field, exc.message) from None
    return web.json_response(await _identity(request, station_id))


def _detail(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


@operation("Security events: reported by stations and detected by the hub, newest first",
           tags=TAGS, parameters=[
               {"name": "station_id", "in": "query", "schema": {"type": "string"}},
               {"name": "source", "in": "query", "schema": {"enum": ["hub", "station"]}},
               {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 1000}},
               {"name": "before_id", "in": "query", "schema": {"type": "integer"}}],
           response=s.obj(["data"], data=s.array(s.obj(
               ["id", "station_id", "source", "type", "timestamp"],
               id=s.INTEGER, station_id=s.STRING, source=s.enum("hub", "station"),
               type=s.STRING, detail={}, timestamp=s.TIMESTAMP))))
async def security_events(request: web.Request) -> web.Response:
    params = dict(request.query)
    source = params.get("source")
    if source is not None and source not in _SOURCES:
        raise bad_request("source", "must be hub or station")
    kinds = _SOURCES[source] if source else (HUB_SECURITY_EVENT, STATION_SECURITY_EVENT)
    limit = int_field(params, "limit", default=100, minimum=1, maximum=1000)
    before = int_field(params, "before_id")
    n = StationNotification
    stmt = sa.select(n).where(n.kind.in_(kinds)).order_by(n.id.desc()).limit(limit)
    if params.get("station_id"):
        station_id = text_field(params, "station_id", max_length=48)  # PostgreSQL: no NUL
        stmt = stmt.where(n.station_id == station_id)
    if before is not None:
        stmt = stmt.where(n.id < before)
    async with hub_of(request).sessions() as session:
        rows = (await session.scalars(stmt)).all()
    return web.json_response({"data": [
        {"id": row.id, "station_id": row.station_id,
         "source": "hub" if row.kind == HUB_SECURITY_EVENT else "station",
         "type": row.status, "detail": _detail(row.detail), "timestamp": iso(row.timestamp)}
        for row in rows]})


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/stations/{station_id}/identity", get_identity)
    r.add_patch("/api/stations/{station_id}/identity", patch_identity)
    r.add_get("/api/security-events", security_events)

"""Organisations and RFID cards: the names a live session shows (card, customer, vehicle).

Organisations are created (and renamed) here by an admin; ``POST /sites`` for an organisation
that does not exist is a 400 naming ``organization_id``. An RFID card names an OCPP id tag within
one organisation; its sessions at that organisation's sites then show the card, its customer
and its vehicle. Each organisation names its own cards: whether another one named the same id
tag is never told (no 409).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.auth import requires_scope
from hub.errors import ApiError, bad_request
from hub.feature_api import HUB
from hub.openapi import operation
from sites_api import inputs, writes
from sites_api.fields import parse
from sites_api.models import Organisation, RfidCard, Vehicle
from sites_api.routes import json_response, scope_of
from sites_api.routes_write import body_of
from sites_api.schemas import ref

TAGS = ["sites"]
O = Organisation.__table__  # noqa: E741
RC = RfidCard.__table__
V = Vehicle.__table__

_ORG = {"type": "object", "required": ["id", "name"],
        "properties": {"id": {"type": "string"}, "name": {"type": "string"}}}
_CARD = {"type": "object", "required": ["id", "id_tag", "name", "customer", "vehicle"],
         "properties": {"id": {"type": "string"}, "id_tag": {"type": "string"},
                        "name": {"type": ["string", "null"]},
                        "customer": {"type": ["object", "null"]},
                        "vehicle": {"type": ["object", "null"]}}}


@operation("Create or rename an organisation (admin)", tags=TAGS,
           body=ref("OrganisationInput"), response=_ORG)
async def put_organisation(request: web.Request) -> web.Response:
    key = request.match_info["key"]
    values = parse(await body_of(request), inputs.ORGANISATION_FIELDS)
    async with request.app[HUB].committer.transaction() as conn:
        await writes.ensure_organisation(conn, key, values["name"])
    return json_response({"id": key, "name": values["name"]})


def _id_tag(request: web.Request) -> str:
    id_tag = request.match_info["id_tag"]
    if not 1 <= len(id_tag) <= 36:
        raise bad_request("id_tag", "must be 1 to 36 characters")
    return id_tag


async def _organisation_id(conn: AsyncConnection, request: web.Request,
                           requested: str | None) -> int:
    scope = scope_of(request)
    if scope.everything:
        if requested is None:
            raise bad_request("organization_id", "is required with an admin token")
        key = requested
    else:
        if scope.organisation_key is None:
            raise ApiError(403, "forbidden", "this token belongs to no organisation")
        if requested not in (None, scope.organisation_key):
            raise bad_request("organization_id", "must be your token's organisation")
        key = scope.organisation_key
    org_id = (await conn.execute(sa.select(O.c.id).where(O.c.key == key))).scalar()
    if org_id is None:
        raise bad_request("organization_id", f"unknown organisation {key!r}")
    return org_id


@requires_scope("sites:write")
@operation("Name an id tag: RFID card, its customer and vehicle", tags=TAGS,
           body=ref("RfidCardInput"), response=_CARD)
async def put_rfid_card(request: web.Request) -> web.Response:
    id_tag = _id_tag(request)
    body = parse(await body_of(request), inputs.RFID_FIELDS)
    vehicle = None
    if body.get("vehicle") is not None:
        vehicle = parse(body["vehicle"], inputs.VEHICLE_FIELDS, "vehicle")
    async with request.app[HUB].committer.transaction() as conn:
        org_id = await _organisation_id(conn, request, body.get("organization_id"))
        card = (await conn.execute(sa.select(RC.c.id, RC.c.vehicle_id).where(
            RC.c.id_tag == id_tag, RC.c.organisation_id == org_id))).first()
        vehicle_id = card.vehicle_id if card is not None else None
        if vehicle is None and vehicle_id is not None:
            await conn.execute(sa.delete(V).where(V.c.id == vehicle_id))
            vehicle_id = None
        elif vehicle is not None and vehicle_id is not None:
            await conn.execute(sa.update(V).where(V.c.id == vehicle_id).values(**vehicle))
        elif vehicle is not None:
            vehicle_id = (await conn.execute(sa.insert(V).values(
                organisation_id=org_id, **vehicle).returning(V.c.id))).scalar_one()
        values = {"name": body.get("name"), "customer_name": body.get("customer_name"),
                  "vehicle_id": vehicle_id}
        if card is None:
            card_id = (await conn.execute(sa.insert(RC).values(
                organisation_id=org_id, id_tag=id_tag, **values).returning(RC.c.id))
            ).scalar_one()
        else:
            card_id = card.id
            await conn.execute(sa.update(RC).where(RC.c.id == card_id).values(**values))
    answer: dict[str, Any] = {
        "id": str(card_id), "id_tag": id_tag, "name": values["name"],
        "customer": None if not values["customer_name"] else {"name": values["customer_name"]},
        "vehicle": None if vehicle is None else {"id": str(vehicle_id), **vehicle},
    }
    return json_response(answer)


@requires_scope("sites:write")
@operation("Forget an id tag's card, customer and vehicle", tags=TAGS,
           responses={"404": {"description": "no card for this id tag (in your organisation)"}},
           status=204)
async def delete_rfid_card(request: web.Request) -> web.Response:
    id_tag = _id_tag(request)
    scope = scope_of(request)
    async with request.app[HUB].committer.transaction() as conn:
        stmt = sa.select(RC.c.id, RC.c.vehicle_id).where(RC.c.id_tag == id_tag)
        if not scope.everything:
            stmt = stmt.where(RC.c.organisation_id.in_(
                sa.select(O.c.id).where(scope.condition())))
        elif "organization_id" in request.query:  # an admin picks the organisation's card
            stmt = stmt.where(RC.c.organisation_id.in_(
                sa.select(O.c.id).where(O.c.key == request.query["organization_id"])))
        cards = (await conn.execute(stmt.limit(2))).all()
        if not cards:
            raise ApiError(404, "not_found", f"no card for id tag {id_tag}")
        if len(cards) > 1:
            raise bad_request("organization_id", "several organisations named this id tag: "
                              "say whose card to forget")
        card = cards[0]
        await conn.execute(sa.delete(RC).where(RC.c.id == card.id))
        if card.vehicle_id is not None:
            await conn.execute(sa.delete(V).where(V.c.id == card.vehicle_id))
    return web.Response(status=204)


def add_directory_routes(app: web.Application) -> None:
    app.router.add_put("/organisations/{key}", put_organisation)
    app.router.add_put("/rfid-cards/{id_tag}", put_rfid_card)
    app.router.add_delete("/rfid-cards/{id_tag}", delete_rfid_card)

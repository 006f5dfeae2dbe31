"""Command routes for the OCPP blocks: ``POST /api/ocpp/{Action}`` for every command that is
"send this request, return the answer" (hub.services.ocpp_commands), and the operator's
reservations (``/api/reserveNow``, ``/api/cancelReservation``) and GDPR customer information
(``/api/customerInformation``), whose ids the hub picks.

Each action is its own documented route whose body schema is the ``ocpp`` package's JSON
schema of the request (camelCase, as on the wire) and whose answer carries the station's answer
under its schema. All of them take the ``commands`` scope (route_policy).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web

from hub.db.base import utcnow
from hub.errors import ApiError, bad_request
from hub.management import schemas as s
from hub.management.common import (
    bool_field,
    command_timeout,
    ensure_known,
    hub_of,
    int_field,
    json_body,
    number_field,
    station_from,
    text_field,
    timestamp_field,
)
from hub.management.ocpp_schemas import ocpp_schema
from hub.openapi import operation
from hub.services import customer_information, ocpp_commands, station_commands
from hub.services.reservations import reserve_now

TAGS = ["ocpp commands"]
RESERVE_BODY = s.station_body(
    ("id_tag",), connector_id={"type": "integer", "minimum": 0,
                               "description": "1.6 connector / 2.0.1 EVSE; 0: any"},
    id_tag={"type": "string", "minLength": 1, "maxLength": 36, "examples": ["04A2B3C4"]},
    parent_id_tag={"type": "string", "minLength": 1, "maxLength": 36},
    id_token_type={"type": "string", "examples": ["ISO14443"],
                   "description": "2.0.1 idToken type (guessed from the tag when absent)"},
    expiry_date={"type": "string", "format": "date-time"},
    expiry_minutes={"type": "number", "minimum": 1, "maximum": 10080,
                    "description": "instead of expiry_date (default 15)"})
RESERVED = s.obj(["status", "reservation_id"], status=s.STRING, reservation_id=s.INTEGER)
CANCEL_BODY = s.station_body(("reservation_id",),
                             reservation_id={"type": "integer", "minimum": 1})
CUSTOMER_BODY = s.station_body(
    customer_identifier={"type": "string", "minLength": 1, "maxLength": 64},
    id_token=s.obj(["idToken", "type"], idToken={"type": "string", "minLength": 1,
                                                  "maxLength": 36, "examples": ["04A2B3C4"]},
                   type={"type": "string", "examples": ["ISO14443"]}),
    report={"type": "boolean", "default": True},
    clear={"type": "boolean", "default": False},
    wait_seconds={"type": "number", "minimum": 0, "maximum": 60,
                  "description": "how long to wait for the station's report (default 10)"})
CUSTOMER_ANSWER = s.obj(
    ["status", "request_id", "complete", "data"], status=s.STRING, request_id=s.INTEGER,
    complete=s.BOOLEAN, data=s.NULLABLE_STRING)


def _command_route(action: str, versions: tuple[str, ...]) -> Any:
    spoken = " and ".join(f"OCPP {v}" for v in versions)
    body = s.station_body(("payload",), payload=ocpp_schema(versions, action))
    answer = s.obj(["station_id", "action", "request_id", "response"], station_id=s.STRING,
                   action={"type": "string", "enum": [action]},
                   request_id={**s.NULLABLE_INTEGER,
                               "description": "the requestId sent (picked by the hub if "
                                              "the payload had none)"},
                   response=ocpp_schema(versions, action, answer=True))

    @operation(f"Send {action} to a station ({spoken})", tags=TAGS, body=body,
               response=answer, responses=s.COMMAND_ERRORS,
               description=f"`payload` is the {action} request as OCPP defines it (camelCase),"
                           " checked against the OCPP JSON schema of the station's version; "
                           "`response` is the station's answer.")
    async def handler(request: web.Request) -> web.Response:
        return await send(request, action)

    handler.__name__ = f"send_{action}"
    return handler


async def send(request: web.Request, action: str) -> web.Response:
    hub = hub_of(request)
    body = await json_body(request)
    station_id = await station_from(hub, body)
    payload = body.get("payload", {})
    if not isinstance(payload, dict):
        raise bad_request("payload", f"must be the {action} request object")
    timeout = command_timeout(body)
    await ensure_known(hub, station_id)
    try:
        sent = await ocpp_commands.send_command(hub, station_id, action, payload, timeout)
    except ocpp_commands.InvalidPayload as exc:
        raise bad_request(exc.field, str(exc)) from None
    except ocpp_commands.WrongVersion as exc:
        raise ApiError(409, "unsupported_ocpp_version", str(exc), station_id=station_id,
                       ocpp_version=exc.version) from None
    return web.json_response({"station_id": station_id, "action": action,
                              "request_id": sent.request_id, "response": sent.answer})


@operation("Reserve a connector (ReserveNow, both OCPP versions); the hub picks the id",
           tags=TAGS, body=RESERVE_BODY, response=RESERVED, responses=s.COMMAND_ERRORS)
async def reserve(request: web.Request) -> web.Response:
    hub = hub_of(request)
    body = await json_body(request)
    station_id = await station_from(hub, body)
    connector_id = int_field(body, "connector_id", default=0)
    id_tag = text_field(body, "id_tag", max_length=36)
    parent = text_field(body, "parent_id_tag", required=False, max_length=36)
    id_token_type = text_field(body, "id_token_type", required=False, max_length=20)
    expiry = timestamp_field(body, "expiry_date")
    if expiry is None:
        minutes = number_field(body, "expiry_minutes", default=15, minimum=1, maximum=10080)
        expiry = utcnow() + timedelta(minutes=minutes or 15)
    elif expiry <= utcnow():
        raise bad_request("expiry_date", "must be in the future")
    assert connector_id is not None and id_tag is not None
    if len(id_tag) > 20 and hub.commands.ocpp_version(station_id) == "1.6":
        raise bad_request("id_tag", "OCPP 1.6 idTag is at most 20 characters")
    await ensure_known(hub, station_id)
    reservation_id, status = await reserve_now(
        hub, station_id, connector_id, id_tag, expiry, parent, command_timeout(body),
        id_token_type=id_token_type)
    return web.json_response({"status": status, "reservation_id": reservation_id})


@operation("Cancel a reservation (CancelReservation, both OCPP versions)", tags=TAGS,
           body=CANCEL_BODY, response=s.STATUS, responses=s.COMMAND_ERRORS)
async def cancel(request: web.Request) -> web.Response:
    hub = hub_of(request)
    body = await json_body(request)
    station_id = await station_from(hub, body)
    reservation_id = int_field(body, "reservation_id", required=True, minimum=1)
    assert reservation_id is not None
    await ensure_known(hub, station_id)
    status = await station_commands.cancel_reservation(hub, station_id, reservation_id,
                                                       command_timeout(body))
    return web.json_response({"status": status})


@operation("GDPR: ask a station to report or clear what it keeps about a customer "
           "(CustomerInformation); the report is stored", tags=TAGS, body=CUSTOMER_BODY,
           response=CUSTOMER_ANSWER, responses=s.COMMAND_ERRORS,
           description="Name the customer by id_token, customer_identifier (or both). With "
                       "report, the hub waits up to wait_seconds for the station's "
                       "NotifyCustomerInformation parts and answers with what arrived; the "
                       "whole report stays readable at GET /api/customerInformation.")
async def customer_information_request(request: web.Request) -> web.Response:
    hub = hub_of(request)
    body = await json_body(request)
    station_id = await station_from(hub, body)
    ask = customer_information.Ask(
        report=bool(bool_field(body, "report", default=True)),
        clear=bool(bool_field(body, "clear", default=False)),
        customer_identifier=text_field(body, "customer_identifier", required=False,
                                       max_length=64),
        id_token=_id_token(body.get("id_token")))
    if not (ask.report or ask.clear):
        raise bad_request("report", "ask for a report, a clear, or both")
    if ask.customer_identifier is None and ask.id_token is None:
        raise bad_request("id_token", "name the customer: id_token or customer_identifier")
    wait = number_field(body, "wait_seconds", default=10.0, maximum=60)
    await ensure_known(hub, station_id)
    try:
        outcome = await customer_information.request(hub, station_id, ask,
                                                     command_timeout(body), wait or 0)
    except ocpp_commands.WrongVersion as exc:
        raise ApiError(409, "unsupported_ocpp_version", str(exc), station_id=station_id,
                       ocpp_version=exc.version) from None
    return web.json_response({"status": outcome.status, "request_id": outcome.request_id,
                              "complete": outcome.complete, "data": outcome.data})


def _id_token(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad_request("id_token", "must be an object {idToken, type}")
    token = text_field(value, "idToken", "id_token", max_length=36)
    kind = text_field(value, "type", max_length=20)
    assert token is not None and kind is not None
    return {"idToken": token, "type": kind}


def add_routes(app: web.Application) -> None:
    r = app.router
    for action, versions in ocpp_commands.COMMANDS.items():
        r.add_post(f"/api/ocpp/{action}", _command_route(action, versions))
    r.add_post("/api/reserveNow", reserve)
    r.add_post("/api/cancelReservation", cancel)
    r.add_post("/api/customerInformation", customer_information_request)

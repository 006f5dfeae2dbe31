"""Tariffs (per connector, station, or the hub's default) and the cost of a transaction.
Reading takes the ``read`` scope; setting and removing tariffs is admin only (route_policy)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hub.context import Hub
from hub.errors import ApiError, bad_request
from hub.management import schemas as s
from hub.management.common import (
    hub_of,
    int_field,
    iso,
    json_body,
    number_field,
    require_station,
    text_field,
)
from hub.openapi import operation, path, query
from hub.services import tariffs

TAGS = ["tariffs"]
PRICE = {"type": "number", "minimum": 0, "maximum": 10000}
SCOPE = {"station_id": {"type": ["string", "null"], "maxLength": 48,
                        "description": "null or absent: the hub's default tariff"},
         "connector_id": {"type": ["integer", "null"], "minimum": 1,
                          "description": "null or absent: the whole station"}}
TERMS = {"currency": {"type": "string", "pattern": "^[A-Z]{3}$", "examples": ["EUR"]},
         "energy_price": {**PRICE, "description": "per kWh, net", "examples": [0.39]},
         "time_price": {**PRICE, "description": "per hour, net", "examples": [1.2]},
         "session_fee": {**PRICE, "description": "net", "examples": [0.5]},
         "tax_percent": {"type": "number", "minimum": 0, "maximum": 100, "examples": [19]}}
TARIFF_BODY = s.obj(["currency"], **SCOPE, **TERMS)
TARIFF = s.obj(["station_id", "connector_id", "currency", "energy_price", "time_price",
                "session_fee", "tax_percent"], **SCOPE, **TERMS, updated_at=s.TIMESTAMP)
COST = s.obj(["transaction_id", "currency", "net", "total", "final"],
             transaction_id=s.INTEGER, currency=s.STRING, net=s.NUMBER, total=s.NUMBER,
             final=s.BOOLEAN)


async def _scope(hub: Hub, data: dict[str, Any]) -> tuple[str | None, int | None]:
    station_id = text_field(data, "station_id", required=False, max_length=48)
    connector_id = int_field(data, "connector_id", minimum=1)
    if connector_id is not None and station_id is None:
        raise bad_request("connector_id", "needs station_id")
    if station_id is not None:
        await require_station(hub, station_id)
    return station_id, connector_id


@operation("Set the tariff of a connector, a station or the hub's default", tags=TAGS,
           body=TARIFF_BODY, response=TARIFF, responses=s.NOT_FOUND)
async def put_tariff(request: web.Request) -> web.Response:
    hub = hub_of(request)
    body = await json_body(request)
    station_id, connector_id = await _scope(hub, body)
    currency = text_field(body, "currency", max_length=3)
    assert currency is not None
    if len(currency) != 3 or not currency.isalpha() or not currency.isupper():
        raise bad_request("currency", "must be an ISO 4217 code such as EUR")
    terms = tariffs.TariffTerms(
        currency,
        **{name: number_field(body, name, default=0.0, maximum=10000) or 0.0
           for name in ("energy_price", "time_price", "session_fee")},
        tax_percent=number_field(body, "tax_percent", default=0.0, maximum=100) or 0.0)
    await tariffs.set_tariff(hub, station_id, connector_id, terms)
    return web.json_response({"station_id": station_id, "connector_id": connector_id,
                              **terms.as_dict()})


@operation("Every tariff, the default first", tags=TAGS,
           response=s.obj(["tariffs"], tariffs=s.array(TARIFF)))
async def list_tariffs(request: web.Request) -> web.Response:
    rows = await tariffs.list_tariffs(hub_of(request))
    return web.json_response({"tariffs": [{**r, "updated_at": iso(r["updated_at"])}
                                          for r in rows]})


@operation("Remove a tariff", tags=TAGS,
           parameters=[query("station_id", {"type": "string", "maxLength": 48}),
                       query("connector_id", {"type": "integer", "minimum": 1})],
           response=s.obj(["removed"], removed=s.BOOLEAN), responses=s.NOT_FOUND)
async def delete_tariff(request: web.Request) -> web.Response:
    hub = hub_of(request)
    station_id, connector_id = await _scope(hub, dict(request.query))
    if not await tariffs.delete_tariff(hub, station_id, connector_id):
        raise ApiError(404, "unknown_tariff", "no tariff for this scope")
    return web.json_response({"removed": True})


@operation("The cost of a transaction under its tariff (running or final)", tags=TAGS,
           parameters=[path("transaction_id", {"type": "integer", "minimum": 1,
                                                "maximum": 2**31 - 1})],
           response=COST, responses=s.NOT_FOUND)
async def transaction_cost(request: web.Request) -> web.Response:
    hub = hub_of(request)
    # Transaction ids are 32-bit (OCPP 1.6 and the database column): anything else is a 400.
    transaction_id = int_field(dict(request.match_info), "transaction_id", required=True,
                               minimum=1)
    cost = (await tariffs.costs_of(hub, [transaction_id])).get(transaction_id)
    if cost is None:
        raise ApiError(404, "no_cost", f"transaction {transaction_id} has no cost (no tariff "
                       "applied, or no meter values yet)")
    return web.json_response({"transaction_id": transaction_id, **cost})


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/tariffs", list_tariffs)
    r.add_put("/api/tariffs", put_tariff)
    r.add_delete("/api/tariffs", delete_tariff)
    r.add_get("/api/transactions/{transaction_id}/cost", transaction_cost)

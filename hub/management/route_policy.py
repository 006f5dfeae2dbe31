"""Which narrower scopes reach which management routes, and POST forms of the acting GETs.

Admin tokens reach everything. Besides, routes that ask a station to do something admit
``commands``; the other reads admit ``read``; writes to the hub's own data stay admin-only.
Decided here in one table rather than on each handler, so the policy can be read at a glance.

The seed's callers act with GET (``/rebootChargePoint/{id}`` ...); those routes stay, are
documented as acting, and each gets a POST twin that takes the same parameters from the query
string or a JSON object body.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiohttp import web

from hub.management.common import json_body

COMMANDS = frozenset({"commands"})
READ = frozenset({"read"})
#: GET routes of the seed that make a station act (reset, disconnect, uploads, firmware).
ACTING_GETS = (
    "/rebootChargePoint/{station_id}",
    "/disconnectChargePoint/{station_id}",
    "/getDiagnostics/{station_id}",
    "/getDiagnosticsHTTP/{station_id}",
    "/updateFirmware/{station_id}",
)
_ACTING_NOTE = ("Acts on the station although it is a GET: kept for the seed's callers. "
                "Prefer POST on the same path (same parameters, query string or JSON body).")


def grant_scopes(routes: Iterable[web.AbstractRoute], *, commands: bool) -> None:
    """Give the routes of one management module their narrower scope (unless they name one).

    ``commands``: the module's routes all talk to stations (ocpp_routes, firmware_routes)."""
    for route in routes:
        handler: Any = route.handler
        if getattr(handler, "public", False) or getattr(handler, "scopes", None):
            continue
        canonical = route.resource.canonical if route.resource is not None else ""
        if commands or canonical in ACTING_GETS:
            handler.scopes = COMMANDS
        elif route.method in ("GET", "HEAD"):
            handler.scopes = READ


async def call_params(request: web.Request) -> dict[str, Any]:
    """An acting route's parameters: the query string, and for the POST form also the fields
    of a JSON object body (which win)."""
    params: dict[str, Any] = dict(request.query)
    if request.method == "POST" and request.can_read_body:
        params.update({key: str(value) for key, value in (await json_body(request)).items()
                       if value is not None})
    return params


def add_post_forms(app: web.Application) -> None:
    """A POST twin beside every acting GET (call after the GETs are registered)."""
    for resource in list(app.router.resources()):
        if resource.canonical not in ACTING_GETS:
            continue
        for route in list(resource):
            if route.method == "GET":
                app.router.add_post(resource.canonical, _post_form(route.handler))


def _body_of_query(parameters: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The POST form's optional JSON body: one field per query parameter of the GET form."""
    fields = {p["name"]: p.get("schema", {"type": "string"})
              for p in parameters if p.get("in") == "query"}
    example = {name: schema["examples"][0] for name, schema in fields.items()
               if schema.get("examples")}
    return {"required": False, "content": {"application/json": {
        "schema": {"type": "object", "properties": fields, "additionalProperties": True},
        "example": example}}}


def _post_form(handler: Any) -> Any:
    async def post_form(request: web.Request) -> web.StreamResponse:
        return await handler(request)

    op = dict(getattr(handler, "openapi_operation", {}))
    if op:
        op["summary"] = op.get("summary", "") + " (POST form)"
        op["description"] = "Parameters as in the GET form, in the query string or a JSON body."
        op["requestBody"] = _body_of_query(op.get("parameters", ()))
        # Document the GET as acting (the operation dict is the GET handler's own).
        handler.openapi_operation = {**handler.openapi_operation, "description": _ACTING_NOTE}
        post_form.openapi_operation = op  # type: ignore[attr-defined]
    post_form.scopes = getattr(handler, "scopes", COMMANDS)  # type: ignore[attr-defined]
    post_form.__name__ = f"{handler.__name__}_post"
    return post_form

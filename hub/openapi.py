"""The hub's OpenAPI 3.1 document, built from the routes that are actually registered.

A handler describes itself with ``@operation(...)``; the builder walks the router (sub-apps
included), so a route cannot be served without appearing in the document. Routes marked
``@public`` get no security requirement; every other route requires the bearer token.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from aiohttp import web

from hub.auth import public
from hub.openapi_examples import fill_examples

F = TypeVar("F", bound=Callable[..., Any])
# Named schemas a feature adds to ``components.schemas`` (to ``$ref`` them, recursive ones too).
COMPONENT_SCHEMAS = web.AppKey("openapi_component_schemas", dict)
JSON = "application/json"
# "No example given" (None is a valid example: a JSON null).
NO_EXAMPLE: Any = object()
_STATUS_TEXT = {200: "OK", 201: "Created", 204: "No content", 206: "Partial content",
                302: "Redirect"}
# The cookie of the /api/docs login (hub/docs.py).
DOCS_COOKIE = "pnc_hub_docs"
# The cookie of the console login (hub/console/sessions.py); /api/docs accepts it too.
CONSOLE_COOKIE = "pnc_hub_console"
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "detail"],
    "properties": {"error": {"type": "string", "examples": ["invalid_request"]},
                   "detail": {"type": "string", "examples": ["station_id: is required"]}},
    "additionalProperties": True,
}


def operation(
    summary: str,
    *,
    tags: Iterable[str] = (),
    parameters: Iterable[dict[str, Any]] = (),
    body: dict[str, Any] | None = None,
    response: dict[str, Any] | None = None,
    responses: dict[str, dict[str, Any]] | None = None,
    description: str | None = None,
    status: int = 200,
    body_type: str = JSON,
    response_type: str = JSON,
    body_example: Any = NO_EXAMPLE,
    response_example: Any = NO_EXAMPLE,
    security: list[dict[str, list[str]]] | None = None,
) -> Callable[[F], F]:
    """Attach an OpenAPI operation to a handler. ``body``/``response`` are JSON schemas of
    media types ``body_type``/``response_type``; ``status`` is the success status (e.g. 201
    for a route that creates). Examples are derived from the schemas (their ``examples``)
    unless given; ``security`` overrides the bearer requirement (e.g. a cookie session)."""

    def decorate(handler: F) -> F:
        op: dict[str, Any] = {"summary": summary, "tags": list(tags)}
        if description:
            op["description"] = description
        params = list(parameters)
        if params:
            op["parameters"] = params
        if body is not None:
            op["requestBody"] = {"required": True,
                                 "content": {body_type: _media(body, body_example)}}
        ok: dict[str, Any] = {"description": _STATUS_TEXT.get(status, "OK")}
        if response is not None:
            ok["content"] = {response_type: _media(response, response_example)}
        op["responses"] = {str(status): ok, **(responses or {})}
        if security is not None:
            op["security"] = security
        handler.openapi_operation = op  # type: ignore[attr-defined]
        return handler

    return decorate


def _media(schema: dict[str, Any], example: Any) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": schema}
    if example is not NO_EXAMPLE:
        media["example"] = example
    return media


def add_component_schemas(app: web.Application, schemas: dict[str, Any]) -> None:
    """Publish named schemas under ``#/components/schemas/`` (call before the app starts)."""
    app.setdefault(COMPONENT_SCHEMAS, {}).update(schemas)


def query(name: str, schema: dict[str, Any] | None = None, *, required: bool = False,
          description: str = "") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": schema or {"type": "string"}}


def path(name: str, schema: dict[str, Any] | None = None, description: str = "") -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": schema or {"type": "string"}}


def _routes(app: web.Application) -> Iterable[tuple[str, str, Any]]:
    for resource in app.router.resources():
        if isinstance(resource, web.PrefixedSubAppResource):
            # aiohttp gives a sub-application's resources their full path when it is mounted.
            yield from _routes(resource._app)
            continue
        for route in resource:
            if route.method in ("HEAD", "*"):
                continue
            yield route.method, resource.canonical, route.handler


def build_document(app: web.Application, title: str = "pnc-hub", version: str = "0.1.0"
                   ) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for method, route_path, handler in _routes(app):
        op = copy.deepcopy(getattr(handler, "openapi_operation", None) or {
            "summary": (handler.__doc__ or handler.__name__).strip().splitlines()[0],
            "responses": {"200": {"description": "OK"}},
        })
        op["operationId"] = f"{method.lower()}_{route_path.strip('/').replace('/', '_')}"\
            .replace("{", "").replace("}", "") or "root"
        responses = dict(op.get("responses", {}))
        error = {"description": "error", "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        if "security" in op:
            if op["security"]:  # its own credentials (e.g. the docs session)
                responses.setdefault("401", {**error, "description": "no valid credentials"})
        elif getattr(handler, "public", False):
            op["security"] = []
        else:
            responses.setdefault("401", {**error, "description": "missing or invalid token"})
            responses.setdefault("403", {**error, "description": "token lacks the scope"})
            responses.setdefault("429", {
                **error, "description": "too many failed tokens from this address "
                                        "(hub/credential_throttle.py)",
                "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}}})
        responses.setdefault("400", {**error, "description": "invalid request"})
        op["responses"] = responses
        op["parameters"] = _parameters(op.get("parameters", ()), route_path)
        if not op["parameters"]:
            del op["parameters"]
        paths.setdefault(route_path, {})[method.lower()] = op
    document = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version,
                 "description": "Every route except health checks and the chargers' WebSocket "
                                "requires `Authorization: Bearer <token>` "
                                "(`pnc-hub token create`); use **Authorize** to try routes "
                                "out. The session of the `/api/docs` login opens only this "
                                "page and `/api/openapi.json`."},
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "docsSession": {"type": "apiKey", "in": "cookie", "name": DOCS_COOKIE,
                                "description": "the session of the /api/docs login (read-only:"
                                               " this page and the document only)"},
                "consoleSession": {"type": "apiKey", "in": "cookie", "name": CONSOLE_COOKIE,
                                   "description": "the operator console's login session "
                                                  "(/console/); POSTs also need its CSRF "
                                                  "token"},
            },
            "schemas": {**app.get(COMPONENT_SCHEMAS, {}), "Error": ERROR_SCHEMA},
        },
        "security": [{"bearer": []}],
    }
    fill_examples(document)
    return document


def _parameters(declared: Iterable[dict[str, Any]], route_path: str) -> list[dict[str, Any]]:
    """The operation's parameters for this route: path parameters it does not have are left
    out (one handler may serve routes with and without them), missing ones are added."""
    names = _path_names(route_path)
    params = [p for p in declared if p["in"] != "path" or p["name"] in names]
    have = {p["name"] for p in params if p["in"] == "path"}
    return params + [path(name) for name in names if name not in have]


def _path_names(route_path: str) -> list[str]:
    names = []
    for part in route_path.split("/"):
        if part.startswith("{") and part.endswith("}"):
            names.append(part[1:-1].split(":")[0])
    return names


__all__ = ["DOCS_COOKIE", "JSON", "add_component_schemas", "build_document", "operation", "path",
           "public", "query"]

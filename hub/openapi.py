"""The hub's OpenAPI 3.1 document, built from the routes that are actually registered.

A handler describes itself with ``@operation(...)``; the builder walks the router (sub-apps
included), so a route cannot be served without appearing in the document. Routes marked
``@public`` get no security requirement; every other route requires the bearer token.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from aiohttp import web

from hub.auth import public

F = TypeVar("F", bound=Callable[..., Any])
# Named schemas a feature adds to ``components.schemas`` (to ``$ref`` them, recursive ones too).
COMPONENT_SCHEMAS = web.AppKey("openapi_component_schemas", dict)
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "detail"],
    "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
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
) -> Callable[[F], F]:
    """Attach an OpenAPI operation to a handler. ``body``/``response`` are JSON schemas;
    ``status`` is the success status (e.g. 201 for a route that creates)."""

    def decorate(handler: F) -> F:
        op: dict[str, Any] = {"summary": summary, "tags": list(tags)}
        if description:
            op["description"] = description
        params = list(parameters)
        if params:
            op["parameters"] = params
        if body is not None:
            op["requestBody"] = {"required": True,
                                 "content": {"application/json": {"schema": body}}}
        ok: dict[str, Any] = {"description": "Created" if status == 201 else "OK"}
        if response is not None:
            ok["content"] = {"application/json": {"schema": response}}
        op["responses"] = {str(status): ok, **(responses or {})}
        handler.openapi_operation = op  # type: ignore[attr-defined]
        return handler

    return decorate


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


def _routes(app: web.Application, prefix: str = "") -> Iterable[tuple[str, str, Any]]:
    for resource in app.router.resources():
        if isinstance(resource, web.PrefixedSubAppResource):
            yield from _routes(resource._app, prefix + resource.canonical)
            continue
        for route in resource:
            if route.method in ("HEAD", "*"):
                continue
            yield route.method, prefix + resource.canonical, route.handler


def build_document(app: web.Application, title: str = "pnc-hub", version: str = "0.1.0"
                   ) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for method, route_path, handler in _routes(app):
        op = dict(getattr(handler, "openapi_operation", None) or {
            "summary": (handler.__doc__ or handler.__name__).strip().splitlines()[0],
            "responses": {"200": {"description": "OK"}},
        })
        op["operationId"] = f"{method.lower()}_{route_path.strip('/').replace('/', '_')}"\
            .replace("{", "").replace("}", "") or "root"
        responses = dict(op.get("responses", {}))
        error = {"description": "error", "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        if getattr(handler, "public", False):
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
        declared = {p["name"] for p in op.get("parameters", ()) if p["in"] == "path"}
        for name in _path_names(route_path):
            if name not in declared:
                op.setdefault("parameters", []).append(path(name))
        paths.setdefault(route_path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version,
                 "description": "Every route except health checks and the chargers' WebSocket "
                                "requires `Authorization: Bearer <token>` "
                                "(`pnc-hub token create`)."},
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {**app.get(COMPONENT_SCHEMAS, {}), "Error": ERROR_SCHEMA},
        },
        "security": [{"bearer": []}],
    }


def _path_names(route_path: str) -> list[str]:
    names = []
    for part in route_path.split("/"):
        if part.startswith("{") and part.endswith("}"):
            names.append(part[1:-1].split(":")[0])
    return names


@operation("This OpenAPI document", tags=["docs"])
async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(build_document(request.app))


@operation("Readable API reference (HTML)", tags=["docs"])
async def api_docs(request: web.Request) -> web.Response:
    document = build_document(request.app)
    rows = []
    for route_path, methods in document["paths"].items():
        for method, op in methods.items():
            params = ", ".join(p["name"] for p in op.get("parameters", ()))
            auth = "public" if op.get("security") == [] else "token"
            rows.append(f"<tr><td><code>{method.upper()}</code></td>"
                        f"<td><code>{html.escape(route_path)}</code></td>"
                        f"<td>{html.escape(op.get('summary', ''))}</td>"
                        f"<td>{html.escape(params)}</td><td>{auth}</td></tr>")
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>pnc-hub API</title>"
            "<style>body{font-family:sans-serif;margin:2em}td,th{padding:4px 8px;"
            "border-bottom:1px solid #ddd;text-align:left}</style></head><body>"
            "<h1>pnc-hub API</h1><p>Machine-readable: <a href='/api/openapi.json'>"
            "/api/openapi.json</a></p><table><tr><th>Method</th><th>Path</th><th>Summary</th>"
            "<th>Parameters</th><th>Auth</th></tr>" + "".join(rows) + "</table></body></html>")
    return web.Response(text=page, content_type="text/html")


def add_openapi_routes(app: web.Application) -> None:
    app.router.add_get("/api/openapi.json", openapi_json)
    app.router.add_get("/api/docs", api_docs)


__all__ = ["add_component_schemas", "add_openapi_routes", "build_document", "operation", "path",
           "public", "query"]

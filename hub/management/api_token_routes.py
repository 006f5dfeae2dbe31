"""``/api/api-tokens``: API bearer tokens for admins (the API twin of ``pnc-hub token``).

The secret is in the answer to POST only; lists and single reads never carry it (nor its hash).
"""

from __future__ import annotations

from aiohttp import web

from hub.api_tokens import TokenView, get_token, list_tokens, parse_expiry, revoke_token
from hub.auth import SCOPES, TOKEN_VERIFIER, UnknownScope, create_token_row, request_token
from hub.errors import ApiError, bad_request
from hub.management.common import hub_of, json_body, text_field
from hub.management.schemas import error
from hub.openapi import operation, path, query

TOKEN_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"}, "name": {"type": "string"},
        "scopes": {"type": "array", "items": {"type": "string", "enum": list(SCOPES)}},
        "organisation_id": {"type": ["string", "null"]},
        "state": {"type": "string", "enum": ["active", "expired", "revoked"]},
        "created_at": {"type": "string", "format": "date-time"},
        "expires_at": {"type": ["string", "null"], "format": "date-time"},
        "last_used_at": {"type": ["string", "null"], "format": "date-time"},
        "revoked_at": {"type": ["string", "null"], "format": "date-time"},
    },
}
CREATE_SCHEMA = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "maxLength": 100},
        "scopes": {"type": "array", "items": {"type": "string", "enum": list(SCOPES)},
                   "description": "default [\"admin\"]"},
        "organisation_id": {"type": "string", "maxLength": 64},
        "expires_at": {"type": "string", "description": "RFC 3339 timestamp or a duration "
                                                        "from now: 30d, 12h, 90m, 2w"},
    },
}


@operation("List API tokens (never their secrets)", tags=["api tokens"],
           parameters=[query("include_revoked", {"type": "boolean"})],
           response={"type": "object", "properties": {
               "tokens": {"type": "array", "items": TOKEN_SCHEMA}}})
async def list_api_tokens(request: web.Request) -> web.Response:
    include = request.query.get("include_revoked", "").lower() in ("1", "true", "yes")
    views = await list_tokens(hub_of(request).sessions, include_revoked=include)
    return web.json_response({"tokens": [view.as_json() for view in views]})


@operation("Create an API token; the answer is the only time its secret is shown",
           tags=["api tokens"], body=CREATE_SCHEMA, status=201,
           response={**TOKEN_SCHEMA, "properties": {
               **TOKEN_SCHEMA["properties"], "token": {"type": "string"}}})
async def create_api_token(request: web.Request) -> web.Response:
    data = await json_body(request)
    name = text_field(data, "name", max_length=100)
    org = text_field(data, "organisation_id", required=False, max_length=64)
    scopes = data.get("scopes")
    if scopes is not None and (not isinstance(scopes, list)
                               or not all(isinstance(s, str) for s in scopes)):
        raise bad_request("scopes", "must be a list of strings")
    expires = data.get("expires_at")
    if expires is not None and not isinstance(expires, str):
        raise bad_request("expires_at", "must be a string")
    try:
        expires_at = parse_expiry(expires) if expires else None
    except ValueError as exc:
        raise bad_request("expires_at", str(exc)) from None
    try:
        token, row = await create_token_row(hub_of(request).sessions, name or "", scopes or None,
                                            org, expires_at)
    except UnknownScope as exc:
        raise ApiError(400, "invalid_request", f"scopes: {exc}", field="scopes",
                       valid_scopes=list(SCOPES)) from None
    return web.json_response({**TokenView.of(row).as_json(), "token": token}, status=201)


TOKEN_ID = {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}


def _token_id(request: web.Request) -> int:
    text = request.match_info["id"]
    # Ids are 32-bit in the database; a larger one is malformed, not merely unknown.
    if not text.isdigit() or len(text) > 10 or int(text) > TOKEN_ID["maximum"]:
        raise bad_request("id", "must be a token id (an integer from 0 to 2147483647)")
    return int(text)


@operation("Show one API token (never its secret)", tags=["api tokens"],
           parameters=[path("id", TOKEN_ID)], response=TOKEN_SCHEMA,
           responses={"404": error("no such token")})
async def get_api_token(request: web.Request) -> web.Response:
    view = await get_token(hub_of(request).sessions, _token_id(request))
    if view is None:
        raise ApiError(404, "not_found", "no such API token")
    return web.json_response(view.as_json())


@operation("Revoke an API token (at once on this node; other nodes within 10 s)",
           tags=["api tokens"], parameters=[path("id", TOKEN_ID)],
           response=TOKEN_SCHEMA,
           responses={"404": error("no such token"),
                      "409": error("the token making the request (it would lock the caller "
                                   "out): revoke it with another admin token or the CLI")})
async def revoke_api_token(request: web.Request) -> web.Response:
    token_id = _token_id(request)
    hub = hub_of(request)
    if request_token(request).id == token_id:
        raise ApiError(409, "own_token", "this is the token making the request; revoke it with "
                       "another admin token or `pnc-hub token revoke`", id=token_id)
    if not await revoke_token(hub.sessions, token_id):
        raise ApiError(404, "not_found", "no such API token")
    request.app[TOKEN_VERIFIER].forget()
    view = await get_token(hub.sessions, token_id)
    assert view is not None
    return web.json_response(view.as_json())


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/api-tokens", list_api_tokens)
    r.add_post("/api/api-tokens", create_api_token)
    r.add_get("/api/api-tokens/{id}", get_api_token)
    r.add_delete("/api/api-tokens/{id}", revoke_api_token)

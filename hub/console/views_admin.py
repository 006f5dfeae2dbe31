"""Admin pages: API tokens (the lifecycle of hub.api_tokens) and console users."""

from __future__ import annotations

from aiohttp import web

from hub.api_tokens import list_tokens, parse_expiry, revoke_token
from hub.auth import SCOPES, TOKEN_VERIFIER, UnknownScope, check_scopes, create_token
from hub.console import users
from hub.console.guard import action, add_flash, current_user, page, take_flash
from hub.console.render import render, see
from hub.console.sessions import CONSOLE_SESSIONS
from hub.context import HUB
from hub.db.base import utcnow
from hub.openapi import path

TEXT = {"type": "string"}


def _text(form: object, name: str, limit: int = 64) -> str:
    value = form.get(name, "")  # type: ignore[attr-defined]
    return value.strip()[:limit] if isinstance(value, str) else ""


@page("API tokens: list, create, revoke (admin)", role=users.ADMIN)
async def api_tokens(request: web.Request, created: str | None = None, problem: str = "",
                     status: int = 200) -> web.Response:
    views = await list_tokens(request.config_dict[HUB].sessions)
    flash = await take_flash(request)
    return render(request, "api_tokens.html", http_status=status, tokens=views, now=utcnow(),
                  scopes=SCOPES, created=created, problem=problem, flash=flash)


@action("Create an API token (shown once on the answer page)",
        {"name": TEXT, "scopes": {"type": "string", "enum": list(SCOPES)},
         "organisation_id": TEXT, "expires": TEXT},
        {"csrf": "c5...", "name": "billing export", "scopes": "read"}, role=users.ADMIN,
        status=201)
async def create_api_token(request: web.Request) -> web.Response:
    form = await request.post()
    name = _text(form, "name", 100)
    try:
        if not name:
            raise ValueError("name: is required")
        scopes = check_scopes([s for s in form.getall("scopes", []) if isinstance(s, str)]
                              or ["read"])
        expiry = _text(form, "expires", 40)
        expires_at = parse_expiry(expiry) if expiry else None
    except (UnknownScope, ValueError) as exc:
        return await api_tokens(request, problem=str(exc), status=400)
    token = await create_token(request.config_dict[HUB].sessions, name, scopes,
                               _text(form, "organisation_id") or None, expires_at)
    # The page answering the POST shows the secret once (no redirect: it must not be stored).
    return await api_tokens(request, created=token, status=201)


@action("Revoke an API token", {}, {"csrf": "c5..."}, role=users.ADMIN,
        parameters=[path("id", {"type": "integer", "minimum": 1})])
async def revoke_api_token(request: web.Request) -> web.Response:
    raw = request.match_info["id"]
    if not raw.isdigit() or not await revoke_token(request.config_dict[HUB].sessions, int(raw)):
        raise web.HTTPNotFound(text=f"no API token {raw}")
    request.config_dict[TOKEN_VERIFIER].forget()
    await add_flash(request, "ok", "Token {id} revoked.", {"id": raw})
    return see("/console/api_tokens")


@page("Console users (admin)", role=users.ADMIN)
async def user_list(request: web.Request, link: str | None = None, problem: str = "",
                    status: int = 200) -> web.Response:
    flash = await take_flash(request)
    return render(request, "users.html", http_status=status,
                  users=await users.list_users(request.config_dict[HUB].sessions),
                  roles=users.ROLES, link=link, problem=problem, flash=flash)


@action("Add a console user (admin)",
        {"username": TEXT, "password": TEXT, "role": {"type": "string", "enum": list(users.ROLES)},
         "organisation": TEXT},
        {"csrf": "c5...", "username": "bob", "password": "a long password", "role": "viewer"},
        role=users.ADMIN)
async def add_user(request: web.Request) -> web.Response:
    form = await request.post()
    try:
        user = await users.add_user(request.config_dict[HUB].sessions, _text(form, "username"),
                                    _text(form, "password", 1025), _text(form, "role", 16),
                                    _text(form, "organisation") or None)
    except users.UserError as exc:
        return await user_list(request, problem=str(exc), status=400)
    await add_flash(request, "ok", "User {name} saved.", {"name": user.username})
    return see("/console/users")


@action("Disable, enable a user, or make a one-time login link for it (admin)",
        {"do": {"type": "string", "enum": ["disable", "enable", "login_link"]}},
        {"csrf": "c5...", "do": "disable"}, role=users.ADMIN,
        parameters=[path("username", {"type": "string", "maxLength": 64})])
async def change_user(request: web.Request) -> web.Response:
    form = await request.post()
    username = request.match_info["username"]
    sessions = request.config_dict[HUB].sessions
    target = await users.find_user(sessions, username)
    if target is None:
        raise web.HTTPNotFound(text=f"no user {username}")
    do = _text(form, "do", 16)
    if do == "login_link":
        try:
            token = await users.create_login_link(sessions, username)
        except users.UserError as exc:
            return await user_list(request, problem=str(exc), status=400)
        return await user_list(request, link=f"/console/op_directlogin?token={token}")
    if do not in ("disable", "enable") or (do == "disable"
                                           and target.id == current_user(request).id):
        return await user_list(request, problem="do: disable (not yourself) or enable",
                               status=400)
    await users.set_disabled(sessions, username, do == "disable")
    if do == "disable":
        await request.config_dict[CONSOLE_SESSIONS].close_user(target.id)
    await add_flash(request, "ok", "User {name} saved.", {"name": username})
    return see("/console/users")


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api_tokens", api_tokens, name="api_tokens")
    r.add_post("/api_tokens", create_api_token)
    r.add_post("/api_tokens/{id}/revoke", revoke_api_token)
    r.add_get("/users", user_list, name="users")
    r.add_post("/users", add_user)
    r.add_post("/users/{username}", change_user)

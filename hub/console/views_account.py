"""Logging in and out, one-time links, changing one's password, the language switch."""

from __future__ import annotations

import math

from aiohttp import web

from hub.console.guard import (
    action,
    add_flash,
    current_session,
    current_user,
    page,
    safe_next,
)
from hub.console.i18n import LANG_COOKIE, LANGUAGES
from hub.console.render import render, see
from hub.console.sessions import CONSOLE_SESSIONS, COOKIE, PRE_COOKIE
from hub.console.users import (
    MAX_PASSWORD_LENGTH,
    User,
    UserError,
    authenticate,
    check_password,
    password_matches,
    redeem_login_link,
    set_password,
)
from hub.context import HUB
from hub.credential_throttle import CREDENTIAL_THROTTLES
from hub.openapi import query

TEXT = {"type": "string"}


def _field(form: object, name: str, limit: int = 256) -> str:
    value = form.get(name, "")  # type: ignore[attr-defined]
    return value[:limit] if isinstance(value, str) else ""


@page("The console's login form (a logged-in user goes to the dashboard)", role=None,
      parameters=[query("next", description="console page to open after login")])
async def login_form(request: web.Request) -> web.Response:
    sessions = request.config_dict[CONSOLE_SESSIONS]
    if await sessions.get(request.cookies.get(COOKIE, "")) is not None:
        return see(safe_next(request.query.get("next")))
    return render(request, "login.html", next=safe_next(request.query.get("next")))


@action("Log in with username and password (sets the console session cookie)",
        {"username": TEXT, "password": TEXT, "next": TEXT},
        {"csrf": "c5...", "username": "alice", "password": "correct horse"}, role=None)
async def login(request: web.Request) -> web.Response:
    form = await request.post()
    username, password = _field(form, "username", 64), _field(form, "password",
                                                              MAX_PASSWORD_LENGTH + 1)
    target = safe_next(_field(form, "next", 512))
    throttles = request.config_dict[CREDENTIAL_THROTTLES]
    if (wait := throttles.login_retry_after(request.remote, username)) > 0:
        return render(request, "login.html", http_status=429, next=target, username=username,
                      problem=("Too many failed logins; try again in {seconds} s.",
                               {"seconds": max(1, math.ceil(wait))}))
    user = await authenticate(request.config_dict[HUB].sessions, username, password)
    if user is None:
        throttles.login_failed(request.remote, username)
        return render(request, "login.html", http_status=401, next=target, username=username,
                      problem=("Wrong username or password.", {}))
    throttles.login_succeeded(username)
    return await _open_session(request, user, target)


async def _open_session(request: web.Request, user: User, target: str) -> web.Response:
    sessions = request.config_dict[CONSOLE_SESSIONS]
    old = request.cookies.get(COOKIE)
    if old:
        await sessions.close(old)  # a fresh id at every login (no session fixation)
    session = await sessions.open(user.id)
    response = see(target)
    # Path "/": /api/docs and /api/openapi.json accept the console session too.
    response.set_cookie(COOKIE, session.id, path="/", httponly=True, samesite="Strict",
                        secure=request.secure)
    response.del_cookie(PRE_COOKIE, path="/console")
    return response


@page("Open a session with a one-time login link (pnc-hub user login-link)", role=None,
      parameters=[query("token", required=True, description="the link's token")])
async def direct_login(request: web.Request) -> web.Response:
    throttles = request.config_dict[CREDENTIAL_THROTTLES]
    if throttles.console_addresses.retry_after(request.remote) > 0:
        return render(request, "login.html", http_status=429, next="/console/op_dashboard",
                      problem=("This login link is unknown, used or expired.", {}))
    user = await redeem_login_link(request.config_dict[HUB].sessions,
                                   request.query.get("token", ""))
    if user is None:
        throttles.console_addresses.failure(request.remote)
        return render(request, "login.html", http_status=401, next="/console/op_dashboard",
                      problem=("This login link is unknown, used or expired.", {}))
    return await _open_session(request, user, "/console/op_dashboard")


@action("Log out (ends the console session)", {}, {"csrf": "c5..."})
async def logout(request: web.Request) -> web.Response:
    await request.config_dict[CONSOLE_SESSIONS].close(current_session(request).id)
    response = see("/console/")
    response.del_cookie(COOKIE, path="/")
    return response


@page("Change one's own password: the form")
async def change_password_form(request: web.Request) -> web.Response:
    return render(request, "change_password.html")


@action("Change one's own password", {"current": TEXT, "new": TEXT},
        {"csrf": "c5...", "current": "old secret pw", "new": "new secret password"})
async def change_password(request: web.Request) -> web.Response:
    form = await request.post()
    user = current_user(request)
    sessions = request.config_dict[HUB].sessions
    if not await password_matches(sessions, user.id,
                                  _field(form, "current", MAX_PASSWORD_LENGTH + 1)):
        request.config_dict[CREDENTIAL_THROTTLES].login_failed(request.remote, user.username)
        return render(request, "change_password.html", http_status=400,
                      problem=("The current password is wrong.", {}))
    new = _field(form, "new", MAX_PASSWORD_LENGTH + 1)
    try:
        check_password(new)
    except UserError as exc:
        return render(request, "change_password.html", http_status=400, problem=(str(exc), {}))
    await set_password(sessions, user.username, new)
    await add_flash(request, "ok", "Password changed.")
    return see("/console/op_dashboard")


@action("Switch the console's language (kept in a cookie)",
        {"lang": {"type": "string", "enum": list(LANGUAGES)}, "next": TEXT},
        {"csrf": "c5...", "lang": "de", "next": "/console/op_dashboard"}, role=None)
async def set_language(request: web.Request) -> web.Response:
    form = await request.post()
    lang = _field(form, "lang", 8)
    if lang not in LANGUAGES:
        raise web.HTTPBadRequest(text="lang: must be one of " + ", ".join(LANGUAGES))
    target = _field(form, "next", 512)
    response = see(target if target == "/console/" else safe_next(target))
    response.set_cookie(LANG_COOKIE, lang, path="/console", max_age=365 * 86400,
                        samesite="Strict", secure=request.secure, httponly=True)
    return response


@page("The API reference (Swagger UI at /api/docs, which accepts the console session)",
      redirect=True)
async def api_docs(request: web.Request) -> web.Response:
    return see("/api/docs")


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/", login_form, name="login")
    r.add_post("/login", login)
    r.add_get("/op_directlogin", direct_login)
    r.add_post("/logout", logout)
    r.add_get("/op_change_password", change_password_form)
    r.add_post("/op_change_password", change_password)
    r.add_post("/set_language", set_language)
    r.add_get("/op_api_docs", api_docs, name="op_api_docs")

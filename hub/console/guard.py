"""Who may open a console route: the session, the role and the CSRF token, checked in one
middleware of the console's sub-application before any view runs.

Every view is declared with ``@page(...)`` (or ``@action(...)`` for a form POST): the role it
needs (viewer < operator < admin), its OpenAPI entry, and ``public`` for the few routes a
visitor without a session may open (the login form, one-time links, static files). The hub's
bearer-token middleware sees them all as ``public``: the console authenticates by its cookie.

CSRF: every POST carries the form field ``csrf`` (or the header ``X-CSRF-Token``): the
session's token, or before login the double-submit cookie ``pnc_hub_console_pre``.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

from aiohttp import web

from hub.console.i18n import LANG_COOKIE, language_of, translate
from hub.console.sessions import CONSOLE_SESSIONS, COOKIE, PRE_COOKIE, ConsoleSession
from hub.console.users import VIEWER, User
from hub.errors import Handler
from hub.openapi import NO_EXAMPLE, operation

F = TypeVar("F", bound=Callable[..., Any])
HTML = {"type": "string"}
HTML_EXAMPLE = "<!doctype html>..."
SESSION_SECURITY = [{"consoleSession": []}]
USER: Any = web.RequestKey("console_user", User) if hasattr(web, "RequestKey") else "c_user"
SESSION: Any = (web.RequestKey("console_session", ConsoleSession) if hasattr(web, "RequestKey")
                else "c_session")
CSRF: Any = web.RequestKey("console_csrf", str) if hasattr(web, "RequestKey") else "c_csrf"


def _mark(handler: F, role: str | None) -> F:
    handler.public = True  # type: ignore[attr-defined]  # not a bearer-token route
    handler.console_role = role  # type: ignore[attr-defined]  # None: no session needed
    return handler


def public_route(handler: F) -> F:
    """A console route without a session (static files)."""
    return _mark(handler, None)


def page(summary: str, *, role: str | None = VIEWER, parameters: list[dict[str, Any]] = (),
         response_type: str = "text/html", example: Any = HTML_EXAMPLE,
         redirect: bool = False, schema: dict[str, Any] | None = None) -> Callable[[F], F]:
    """A GET route of the console answering HTML (or ``response_type``; ``redirect``: 303)."""

    def decorate(handler: F) -> F:
        handler = operation(
            summary, tags=["console"], parameters=list(parameters),
            response=None if redirect else (schema or HTML), status=303 if redirect else 200,
            response_type=response_type, response_example=example,
            security=SESSION_SECURITY if role else [],
            responses=_refusals(role))(handler)
        return _mark(handler, role)

    return decorate


def action(summary: str, fields: dict[str, Any], example: dict[str, str], *,
           role: str | None = VIEWER, parameters: list[dict[str, Any]] = (),
           status: int = 303) -> Callable[[F], F]:
    """A form POST of the console (with its CSRF token); answers 303 to the next page
    (``status`` 201: the answer is a page, e.g. a secret shown once)."""
    schema = {"type": "object", "required": ["csrf"],
              "properties": {"csrf": {"type": "string", "description": "the page's CSRF token"},
                             **fields}}

    def decorate(handler: F) -> F:
        handler = operation(
            summary, tags=["console"], parameters=list(parameters), body=schema,
            body_type="application/x-www-form-urlencoded", body_example=example, status=status,
            response=HTML if status != 303 else None, response_type="text/html",
            response_example=HTML_EXAMPLE if status != 303 else NO_EXAMPLE,
            security=SESSION_SECURITY if role else [],
            responses={**_refusals(role),
                       "400": {"description": "invalid input (the form again, naming the field)",
                               "content": {"text/html": {"schema": HTML,
                                                         "example": HTML_EXAMPLE}}}})(handler)
        return _mark(handler, role)

    return decorate


def _refusals(role: str | None) -> dict[str, Any]:
    refused = {"content": {"text/html": {"schema": HTML, "example": HTML_EXAMPLE}}}
    out: dict[str, Any] = {"403": {"description": "the role may not, or no valid CSRF token",
                                   **refused}}
    if role:
        out["303"] = {"description": "no session: to the login form"}
    else:  # the login routes: a wrong credential, or too many of them
        out["401"] = {"description": "wrong username/password or login link", **refused}
        out["429"] = {"description": "too many failed logins (hub/credential_throttle.py)",
                      **refused}
    return out


def current_user(request: web.Request) -> User:
    return request[USER]


def current_session(request: web.Request) -> ConsoleSession:
    return request[SESSION]


def _(request: web.Request) -> Callable[..., str]:
    return translate(language_of(request.cookies.get(LANG_COOKIE)))


@web.middleware
async def console_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    response = await _guarded(request, handler)
    if not response.prepared:  # a stream has sent its headers already
        # The server's own time for the page, for browsers' dev tools and bench_console.py.
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
    return response


async def _guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
    route = request.match_info
    if route.http_exception is not None:
        return await handler(request)
    role = getattr(route.handler, "console_role", VIEWER)
    session, user = await logged_in(request)
    pre = request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(24)
    request[CSRF] = session.csrf if session is not None else pre
    if session is not None and user is not None:
        request[USER], request[SESSION] = user, session
    if role is not None:
        if session is None or user is None:
            if request.method == "GET":
                raise web.HTTPSeeOther(_login_url(request))
            return _refused(request, 403, "Your session has ended; please log in again.")
        if not user.may(role):
            return _refused(request, 403, "Your role may not do this.")
    if request.method not in ("GET", "HEAD") and not await _csrf_ok(request):
        return _refused(request, 403, "The form was out of date; please try again.")
    response = await handler(request)
    if session is None and request.cookies.get(PRE_COOKIE) != pre:
        response.set_cookie(PRE_COOKIE, pre, path="/console", httponly=True,
                            samesite="Strict", secure=request.secure)
    return response


async def logged_in(request: web.Request) -> tuple[ConsoleSession | None, User | None]:
    """The request's live console session and its enabled user (read from the database with
    the session, each time), or (None, None); a disabled or deleted user's session ends.
    hub.docs asks this too."""
    sessions = request.config_dict.get(CONSOLE_SESSIONS)
    session_id = request.cookies.get(COOKIE, "")
    session = await sessions.get(session_id) if sessions is not None and session_id else None
    if session is None:
        return None, None
    user = session.user
    if user is None or user.disabled:
        await sessions.close(session_id)
        return None, None
    return session, user


async def add_flash(request: web.Request, kind: str, text: str,
                values: dict[str, object] | None = None) -> None:
    """A message for the next page (``kind`` ok or error; ``text`` English, translated and
    formatted with ``values`` when shown). Kept with the session, so any node shows it."""
    plain = {k: v if isinstance(v, int | float | str | bool) or v is None else str(v)
             for k, v in (values or {}).items()}
    await request.config_dict[CONSOLE_SESSIONS].add_flash(current_session(request), kind,
                                                          text, plain)


async def take_flash(request: web.Request) -> list[tuple[str, str, dict[str, object]]]:
    """The messages waiting for this page (shown once)."""
    return await request.config_dict[CONSOLE_SESSIONS].take_flash(current_session(request))


async def _csrf_ok(request: web.Request) -> bool:
    offered = request.headers.get("X-CSRF-Token", "")
    if not offered and request.content_type in ("application/x-www-form-urlencoded",
                                                "multipart/form-data"):
        value = (await request.post()).get("csrf", "")
        offered = value if isinstance(value, str) else ""
    expected = request[CSRF]
    if request.get(SESSION) is None and request.cookies.get(PRE_COOKIE) != expected:
        return False  # before login the token must also be the cookie's (double submit)
    return bool(offered) and hmac.compare_digest(offered.encode(), expected.encode())


def _login_url(request: web.Request) -> str:
    return "/console/?next=" + quote(request.rel_url.path_qs, safe="/")


def _refused(request: web.Request, status: int, reason: str) -> web.Response:
    text = _(request)(reason)
    body = ("<!doctype html><html><head><meta charset='utf-8'><title>pnc-hub</title></head>"
            f"<body><main><h1>{status}</h1><p role='alert'>{text}</p>"
            "<p><a href='/console/op_dashboard'>pnc-hub</a></p></main></body></html>")
    return web.Response(status=status, text=body, content_type="text/html",
                        headers={"Cache-Control": "no-store"})


def safe_next(target: str | None) -> str:
    """Where to go after login: a console path only (never another site)."""
    if (target and target.startswith("/console/") and "//" not in target
            and "\\" not in target and "\r" not in target and "\n" not in target):
        return target
    return "/console/op_dashboard"

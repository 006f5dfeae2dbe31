"""The API reference in a browser: ``/api/docs`` (Swagger UI) with a login of its own.

Browsers cannot send a bearer header when a person opens a URL, so ``GET /api/docs`` without
credentials shows a login form where the operator pastes an API token. A valid token gets a
session: a random id in an HttpOnly, SameSite=Strict cookie (Secure over TLS) that maps, in
this process, to the token it was opened with; the raw token never goes into the cookie. The
session authorises only ``GET /api/docs`` and ``GET /api/openapi.json`` (read-only: no CSRF
surface), ends after ``SESSION_SECONDS``, on logout, or as soon as its token is revoked (it is
verified again on every use). "Try it out" in the page still needs the token (Authorize).

The console's login session (hub.console.sessions, cookie path ``/``) opens the same two
routes, read-only, for as long as it lives; it is kept in the database, so every node of a
cluster accepts it.

Swagger UI's files come from the ``swagger-ui-py`` package and are served by the hub itself
(no CDN); the page's script is a static file, so the CSP allows no inline script.
This module's own token sessions live in the memory of one hub process (they hold the API
token itself, to re-verify it, which the database must never hold): behind a load balancer,
log in with a token per node, or use the console login.
"""

from __future__ import annotations

import html
import importlib.util
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from hub.auth import ADMIN, CredentialsThrottled, TokenInfo, TokenVerifier, public, verify_offered
from hub.console.guard import logged_in
from hub.credential_throttle import CREDENTIAL_THROTTLES
from hub.errors import error_response
from hub.openapi import DOCS_COOKIE, build_document, operation

SESSION_SECONDS = 8 * 3600
MAX_SESSIONS = 1000
MAX_TOKEN_LENGTH = 256
# Scopes besides admin that may read the API reference (the document reveals no data).
DOCS_SCOPES = ("read",)
OWN_ASSETS = Path(__file__).parent / "static" / "docs"
# The files of the swagger-ui-py package the page needs (nothing else of it is served).
SWAGGER_ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png",
                  "favicon-16x16.png")
ASSET_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
            "base-uri 'none'")

Verifier = Callable[[web.Request], TokenVerifier]


@dataclass
class DocsSession:
    token: str  # kept server-side only, to re-verify it (revocation ends the session)
    expires_at: float


class DocsSessions:
    """Random session ids -> the token they were opened with, with expiry."""

    def __init__(self, lifetime: float = SESSION_SECONDS, limit: int = MAX_SESSIONS) -> None:
        self.lifetime = lifetime
        self.limit = limit
        self._sessions: OrderedDict[str, DocsSession] = OrderedDict()

    def open(self, token: str) -> str:
        session_id = secrets.token_urlsafe(32)
        self._sessions[session_id] = DocsSession(token, time.monotonic() + self.lifetime)
        while len(self._sessions) > self.limit:
            self._sessions.popitem(last=False)  # the oldest login goes first
        return session_id

    def token_of(self, session_id: str) -> str | None:
        session = self._sessions.get(session_id)
        if session is None:
            return None
        if session.expires_at <= time.monotonic():
            del self._sessions[session_id]
            return None
        return session.token

    def close(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)


DOCS = web.AppKey("docs_sessions", DocsSessions)
VERIFIER = web.AppKey("docs_token_verifier", object)


def may_read_docs(info: TokenInfo | None) -> bool:
    return info is not None and (ADMIN in info.scopes or bool(info.scopes & set(DOCS_SCOPES)))


async def _verify_offered(request: web.Request, token: str) -> TokenInfo | None:
    """A token offered in a header or the login form: checked like the API's bearer tokens,
    under the same per-address throttle."""
    if not 0 < len(token) <= MAX_TOKEN_LENGTH:
        return None
    verifier: TokenVerifier = request.app[VERIFIER](request)  # type: ignore[operator]
    return await verify_offered(verifier, token,
                                request.app[CREDENTIAL_THROTTLES].token_addresses,
                                request.remote)


async def _identity(request: web.Request) -> TokenInfo | None:
    """The token behind the request: a bearer header, else the docs session cookie."""
    verifier: TokenVerifier = request.app[VERIFIER](request)  # type: ignore[operator]
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return await _verify_offered(request, token.strip())
    session_id = request.cookies.get(DOCS_COOKIE, "")
    stored = request.app[DOCS].token_of(session_id) if session_id else None
    if stored is None:
        return await _console_identity(request)
    info = await verifier.verify(stored)
    if info is None:
        request.app[DOCS].close(session_id)  # revoked since the login
    return info


async def _console_identity(request: web.Request) -> TokenInfo | None:
    """A console login opens the reference too (read-only, like a ``read`` token)."""
    _session, user = await logged_in(request)
    if user is None:
        return None
    return TokenInfo(0, f"console user {user.username}", frozenset(DOCS_SCOPES),
                     user.organisation_key)


SESSION_SECURITY = [{"bearer": []}, {"docsSession": []}, {"consoleSession": []}]


@public  # own authentication: bearer token or the docs session (may_read_docs)
@operation("This OpenAPI document", tags=["docs"], response={"type": "object"},
           response_example={"openapi": "3.1.0", "info": {"title": "pnc-hub"}, "paths": {}},
           security=SESSION_SECURITY,
           responses={"403": {"description": "the token may not read the API reference"}})
async def openapi_json(request: web.Request) -> web.Response:
    try:
        info = await _identity(request)
    except CredentialsThrottled as exc:
        return exc.response()
    if info is None:
        return error_response(401, "unauthorized", "a bearer token or a docs session is required")
    if not may_read_docs(info):
        return error_response(403, "forbidden", "this token's scopes do not allow this route",
                              required_scopes=sorted({ADMIN, *DOCS_SCOPES}))
    return web.json_response(build_document(request.app))


@public  # anonymous: the login form; with a session or token: the reference
@operation("API reference in a browser (Swagger UI); without credentials, its login form",
           tags=["docs"], response={"type": "string"}, response_type="text/html",
           response_example="<!doctype html>...", security=[])
async def api_docs(request: web.Request) -> web.Response:
    try:
        info = await _identity(request)
    except CredentialsThrottled as exc:
        return exc.response()
    if not may_read_docs(info):
        return _page(_login_form(), status=200)
    return _page(_DOCS_PAGE)


@public
@operation("Log in to the API reference with an API token (sets the docs session cookie)",
           tags=["docs"], body={"type": "object", "required": ["token"], "properties": {
               "token": {"type": "string", "minLength": 1, "maxLength": MAX_TOKEN_LENGTH,
                         "description": "an API token (pnc-hub token create)"}}},
           body_type="application/x-www-form-urlencoded", body_example={"token": "pnch_..."},
           status=303, security=[],
           responses={"401": {"description": "unknown or revoked token (the form again)",
                              "content": {"text/html": {"schema": {"type": "string"},
                                                        "example": "<!doctype html>..."}}}})
async def docs_login(request: web.Request) -> web.Response:
    token = ""
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        value = form.get("token", "")
        token = value.strip() if isinstance(value, str) else ""
    try:
        info = await _verify_offered(request, token)
    except CredentialsThrottled as exc:
        return exc.response()
    if not may_read_docs(info):
        return _page(_login_form("This token is unknown, revoked or may not read the API "
                                 "reference."), status=401)
    response = _see_docs()
    response.set_cookie(DOCS_COOKIE, request.app[DOCS].open(token), path="/api",
                        max_age=int(request.app[DOCS].lifetime), httponly=True,
                        samesite="Strict", secure=request.secure)
    return response


@public
@operation("Log out of the API reference (ends the docs session)", tags=["docs"], status=303,
           security=[])
async def docs_logout(request: web.Request) -> web.Response:
    session_id = request.cookies.get(DOCS_COOKIE)
    if session_id:
        request.app[DOCS].close(session_id)
    response = _see_docs()
    response.del_cookie(DOCS_COOKIE, path="/api")
    return response


@public  # Swagger UI's and the page's own static files: nothing secret
@operation("Static files of the API reference page", tags=["docs"],
           parameters=[{"name": "name", "in": "path", "required": True,
                        "schema": {"type": "string", "enum": [
                            *SWAGGER_ASSETS, *sorted(p.name for p in OWN_ASSETS.iterdir())]}}],
           responses={"200": {"description": "the file", "content": {
               "text/javascript": {"schema": {"type": "string"},
                                   "example": "window.ui = SwaggerUIBundle({...});"},
               "text/css": {"schema": {"type": "string"}, "example": "body { margin: 0; }"},
               "image/png": {"schema": {"type": "string",
                                        "contentMediaType": "image/png"}}}},
               "404": {"description": "no such file"}}, security=[])
async def docs_asset(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    path = _asset_path(name)
    if path is None:
        return error_response(404, "not_found", f"no file {name}")
    return web.FileResponse(path, headers={
        "Content-Type": ASSET_TYPES[path.suffix], "Cache-Control": "public, max-age=3600",
        "X-Content-Type-Options": "nosniff"})


def _asset_path(name: str) -> Path | None:
    if name in SWAGGER_ASSETS:
        return swagger_ui_dir() / name
    own = OWN_ASSETS / name
    if "/" not in name and own.suffix in ASSET_TYPES and own.is_file():
        return own
    return None


def swagger_ui_dir() -> Path:
    """swagger-ui-py's static folder, found without importing the package (it pulls in
    jinja2 and friends for its own web-framework handlers, which the hub does not use)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the swagger-ui-py package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def _see_docs() -> web.Response:
    return web.Response(status=303, headers={"Location": "/api/docs", "Cache-Control": "no-store"})


def _page(body: str, status: int = 200) -> web.Response:
    response = web.Response(text=body, content_type="text/html", status=status)
    response.headers["Content-Security-Policy"] = PAGE_CSP
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _login_form(problem: str = "") -> str:
    note = f"<p class='problem' role='alert'>{html.escape(problem)}</p>" if problem else ""
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<title>pnc-hub API: log in</title>"
        "<link rel='icon' type='image/png' href='/api/docs/assets/favicon-32x32.png'>"
        "<link rel='stylesheet' href='/api/docs/assets/docs.css'></head><body class='login'>"
        "<main><h1>pnc-hub API reference</h1>"
        "<p>Paste an API token (<code>pnc-hub token create --name me</code>) to read the "
        "reference. The token stays on the hub; your browser keeps only a session cookie for "
        "this page. Operators logged in to <a href='/console/'>the console</a> see the "
        "reference without a token.</p>" + note +
        "<form method='post' action='/api/docs/login'>"
        "<label for='token'>API token</label>"
        "<input id='token' name='token' type='password' autocomplete='off' required "
        f"maxlength='{MAX_TOKEN_LENGTH}' autofocus>"
        "<button type='submit'>Log in</button></form></main></body></html>")


_DOCS_PAGE = (
    "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
    "<title>pnc-hub API</title>"
    "<link rel='icon' type='image/png' href='/api/docs/assets/favicon-32x32.png'>"
    "<link rel='stylesheet' href='/api/docs/assets/swagger-ui.css'>"
    "<link rel='stylesheet' href='/api/docs/assets/docs.css'></head><body>"
    "<header class='docs-bar'><span>pnc-hub API</span>"
    "<a href='/api/openapi.json'>openapi.json</a>"
    "<form method='post' action='/api/docs/logout'><button type='submit'>Log out</button>"
    "</form></header><div id='swagger-ui'></div>"
    "<script src='/api/docs/assets/swagger-ui-bundle.js'></script>"
    "<script src='/api/docs/assets/docs-init.js'></script></body></html>")


def add_docs_routes(app: web.Application, verifier_for: Verifier) -> None:
    """``verifier_for(request)``: the token verifier of the running hub."""
    app[DOCS] = DocsSessions()
    app[VERIFIER] = verifier_for
    app.router.add_get("/api/openapi.json", openapi_json)
    app.router.add_get("/api/docs", api_docs)
    app.router.add_post("/api/docs/login", docs_login)
    app.router.add_post("/api/docs/logout", docs_logout)
    app.router.add_get("/api/docs/assets/{name}", docs_asset)


__all__ = ["DOCS", "DocsSessions", "add_docs_routes", "swagger_ui_dir"]

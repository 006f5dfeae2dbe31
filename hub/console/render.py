"""Rendering a console page: the template plus what every page needs (the user, the CSRF
token, the language and its ``_``, the navigation the user's role may see)."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from hub.console.guard import CSRF, USER
from hub.console.i18n import LANG_COOKIE, LANGUAGES, language_of, translate
from hub.console.registry import CONSOLE_REGISTRY
from hub.console.users import ADMIN, VIEWER

# (route name, label, role needed); features add theirs with hub.console.pages.
NAV = [("op_dashboard", "Dashboard", VIEWER), ("stations", "Stations", VIEWER),
       ("op_active_sessions", "Active sessions", VIEWER),
       ("transactions", "Transactions", VIEWER), ("op_ping_monitor", "Ping monitor", VIEWER),
       ("op_performance", "Performance", VIEWER), ("op_redirects", "Redirects", VIEWER),
       ("op_diagnostics", "Diagnostics", VIEWER),
       ("api_tokens", "API tokens", ADMIN),
       ("users", "Users", ADMIN), ("op_connection_info", "Connection info", VIEWER),
       ("op_mqtt_status", "MQTT", VIEWER),
       ("op_api_docs", "API docs", VIEWER)]


def render(request: web.Request, template: str, http_status: int = 200,
           **context: Any) -> web.Response:
    lang = language_of(request.cookies.get(LANG_COOKIE))
    user = request.get(USER)
    extra = request.app[CONSOLE_REGISTRY].nav if CONSOLE_REGISTRY in request.app else []
    nav = [(f"/console/{name}", label) for name, label, role in [*NAV, *extra]
           if user is not None and user.may(role)]
    response = aiohttp_jinja2.render_template(template, request, {
        "_": translate(lang), "lang": lang, "languages": LANGUAGES, "user": user,
        "csrf": request[CSRF], "nav": nav, "path": request.path, **context}, status=http_status)
    response.headers["Cache-Control"] = "no-store"
    return response


def see(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})

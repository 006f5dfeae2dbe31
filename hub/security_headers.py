"""Security headers on every HTTP answer, set once in the app factory's response-prepare hook.

The hook runs for every response the application prepares (JSON, HTML pages, file downloads,
errors, WebSocket upgrades), so a page added later gets the headers without doing anything.
It runs after aiohttp filled in its defaults, so it also replaces aiohttp's ``Server`` header,
which would name the Python and aiohttp versions.
"""

from __future__ import annotations

from aiohttp import web, web_response

SERVER = "pnc-hub"
# The hub's own pages are static HTML with inline styles and no scripts; nothing may frame them.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


async def _add_security_headers(_request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Server"] = SERVER
    for name, value in HEADERS.items():
        # A handler that needs a different policy for its page sets its own.
        response.headers.setdefault(name, value)


def add_security_headers(app: web.Application) -> None:
    app.on_response_prepare.append(_add_security_headers)
    # A request aiohttp cannot parse (a request line over 8 KB, bad framing) is answered by
    # aiohttp itself, before routing, so no application hook runs: its Server header is the
    # module's default, which names the versions. The hub's process serves only the hub.
    web_response.SERVER_SOFTWARE = SERVER

"""The console's sub-application, mounted at ``/console/`` by the app factory.

Pages come from the ``views_*`` modules; the guard middleware checks session, role and CSRF
for all of them; templates and static files ship in this package (no CDN, no build step).
The console imports no feature package: what features know reaches it through the core's
tables and services (and ``hub.metrics`` providers), as for the management API.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from hub.console import (
    views_account,
    views_admin,
    views_commands,
    views_estate,
    views_files,
    views_monitor,
    views_mqtt,
    views_records,
)
from hub.console.feed import CONSOLE_FEED, ConsoleFeed
from hub.console.guard import console_guard, public_route
from hub.console.registry import CONSOLE_REGISTRY, ConsoleRegistry
from hub.console.sessions import CONSOLE_SESSIONS, ConsoleSessions
from hub.context import HUB
from hub.openapi import operation, path

HERE = Path(__file__).parent
STATIC = HERE / "static"
STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


@public_route
@operation("The console's static files (script, style)", tags=["console"], security=[],
           parameters=[path("name", {"type": "string", "enum": sorted(
               p.name for p in STATIC.iterdir() if p.suffix in STATIC_TYPES)})],
           responses={"200": {"description": "the file", "content": {
               "text/javascript": {"schema": {"type": "string"}, "example": '"use strict";'},
               "text/css": {"schema": {"type": "string"}, "example": "body { margin: 0; }"}}},
               "404": {"description": "no such file"}})
async def static_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    file = STATIC / name
    if "/" in name or file.suffix not in STATIC_TYPES or not file.is_file():
        raise web.HTTPNotFound(text=f"no file {name}")
    return web.FileResponse(file, headers={"Content-Type": STATIC_TYPES[file.suffix],
                                           "Cache-Control": "public, max-age=3600"})


def when(value: datetime | None) -> str:
    return "–" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _feed(parent: web.Application) -> contextlib.AbstractAsyncContextManager[None]:
    @contextlib.asynccontextmanager
    async def run(_console: web.Application) -> AsyncIterator[None]:
        feed = parent[CONSOLE_FEED]
        feed.attach(parent[HUB])  # the hub runtime exists by now
        yield
        await feed.stop()

    return run  # type: ignore[return-value]


async def _end_streams(console: web.Application) -> None:
    console[CONSOLE_FEED].close()


def create_console(parent: web.Application) -> web.Application:
    console = web.Application(middlewares=[console_guard])
    loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(HERE / "templates")])
    env = aiohttp_jinja2.setup(console, loader=loader, autoescape=True,
                               undefined=jinja2.StrictUndefined)
    parent[CONSOLE_REGISTRY] = console[CONSOLE_REGISTRY] = ConsoleRegistry(console, loader)
    env.filters["when"] = when
    env.globals["command_triggers"] = views_commands.TRIGGERS  # the form offers what is sent
    feed = ConsoleFeed()
    console[CONSOLE_FEED] = feed
    parent[CONSOLE_FEED] = feed
    console.cleanup_ctx.append(_feed(parent))  # type: ignore[arg-type]
    console.on_shutdown.append(_end_streams)
    for module in (views_account, views_estate, views_records, views_commands, views_admin,
                   views_monitor, views_files, views_mqtt):
        module.add_routes(console)
    console.router.add_get("/static/{name}", static_file)
    return console


def add_console(app: web.Application) -> None:
    """Build the console (its sessions on the root app, for /api/docs); features add their
    pages next (hub.console.pages), then ``mount_console`` puts it at ``/console/``."""
    app[CONSOLE_SESSIONS] = ConsoleSessions(lambda: app[HUB].sessions)  # the hub is up by then
    create_console(app)


def mount_console(app: web.Application) -> None:
    # aiohttp freezes a sub-application's routes when it is mounted: after the features.
    app.add_subapp("/console", app[CONSOLE_REGISTRY].console)

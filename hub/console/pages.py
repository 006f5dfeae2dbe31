"""How a feature adds a page to the console, the way it adds routes to the app.

In its ``setup(app)`` a feature calls ``add_console_page(app, ConsolePage(...))``: the route
joins the console's sub-application (so the guard checks session, role and CSRF for it), the
label joins the menu, the feature's template folder joins the template search path, and its
German strings join the translations. The handler is declared with ``page``/``action`` and
answers with ``render``; ``scoped``/``station_visible`` keep it within the user's
organisation. This module is the console's surface for features (``hub.feature_api``
lists it); the console itself imports no feature.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from hub.console.estate import scoped, station_visible
from hub.console.guard import action, current_user, page
from hub.console.i18n import GERMAN
from hub.console.registry import CONSOLE_REGISTRY
from hub.console.render import render, see
from hub.console.users import ADMIN, OPERATOR, VIEWER


@dataclass(frozen=True)
class ConsolePage:
    path: str  # under /console/, e.g. "op_pnc"; a GET route
    label: str  # English; its German in ``german``
    handler: Callable[..., Any]
    role: str = VIEWER  # who sees the menu entry (the handler's @page decides access)
    templates: Path | None = None  # the feature's template folder
    german: dict[str, str] = field(default_factory=dict)
    extra_routes: tuple[tuple[str, str, Callable[..., Any]], ...] = ()  # (method, path, handler)


def add_console_page(app: web.Application, console_page: ConsolePage) -> None:
    """Call from a feature's ``setup(app)`` (before the app starts)."""
    registry = app[CONSOLE_REGISTRY]
    registry.console.router.add_get("/" + console_page.path, console_page.handler)
    for method, route, handler in console_page.extra_routes:
        registry.console.router.add_route(method, "/" + route, handler)
    registry.nav.append((console_page.path, console_page.label, console_page.role))
    if console_page.templates is not None:
        registry.loader.loaders.append(jinja2.FileSystemLoader(console_page.templates))
    GERMAN.update(console_page.german)


__all__ = ["ADMIN", "CONSOLE_REGISTRY", "OPERATOR", "VIEWER", "ConsolePage", "action",
           "add_console_page", "current_user", "page", "render", "scoped", "see",
           "station_visible"]

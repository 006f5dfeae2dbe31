"""The console's sub-application and what features added to it (hub.console.pages)."""

from __future__ import annotations

import jinja2
from aiohttp import web


class ConsoleRegistry:
    """The console's sub-application and what features added to it."""

    def __init__(self, console: web.Application, loader: jinja2.ChoiceLoader) -> None:
        self.console = console
        self.loader = loader
        self.nav: list[tuple[str, str, str]] = []


CONSOLE_REGISTRY = web.AppKey("console_registry", ConsoleRegistry)

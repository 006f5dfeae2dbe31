"""The Sites API: the CPO backoffice's read model of its estate, and the writes that shape it.

- ``GET /sites``, ``GET /sites/{id}``: canonical site objects (every field of the ChargePilot,
  Flipturn and Flatpeak site APIs, snake_case), with chargers, ports, live OCPP status and the
  running session per port; Flatpeak's list envelope and cursor pagination.
- ``GET /api/sites``: Flipturn's exact camelCase view.
- writes of sites, local controller, fuse tree, chargers and ports (``sites:write``).

The model lives in ``sites_api.models``. Its ports are the hub's published EVSEs: the feature
registers ``sites_api.evse_provider`` in the core's EVSE provider registry (OICP reads that).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    # Only for annotations: the pure parts (models, the load planner) import without aiohttp.
    from aiohttp import web

MIGRATIONS = Path(__file__).parent / "migrations"


def setup(app: web.Application) -> None:
    from hub.feature_api import evse_providers
    from hub.openapi import add_component_schemas
    from sites_api.evse_provider import SitesEvseProvider
    from sites_api.load.meter_routes import add_meter_routes
    from sites_api.load.routes import add_load_routes
    from sites_api.reader import add_reader
    from sites_api.routes import add_read_routes
    from sites_api.routes_directory import add_directory_routes
    from sites_api.routes_write import add_write_routes
    from sites_api.schemas import components

    evse_providers(app).register(SitesEvseProvider())
    add_reader(app)
    add_read_routes(app)
    add_write_routes(app)
    add_directory_routes(app)
    add_component_schemas(app, components())
    add_load_routes(app)
    add_meter_routes(app)
    from sites_api.console_pages import add_pages

    add_pages(app)
    app.cleanup_ctx.append(_load_manager)


async def _load_manager(app: web.Application) -> AsyncIterator[None]:
    from hub.feature_api import HUB, MQTT
    from sites_api.load.ev_needs import register as register_ev_needs
    from sites_api.load.metrics import load_metric_families
    from sites_api.load.mqtt_meters import MqttMeters
    from sites_api.load.runner import LOAD, LoadManager
    from sites_api.load.settings import load_settings

    hub = app[HUB]
    manager = LoadManager(hub, load_settings(hub.config.section("load")))
    app[LOAD] = manager
    manager.subscribe()
    register_ev_needs(hub, manager)
    hub.metric_providers.append(lambda: load_metric_families(manager))
    meters = None
    link = app.get(MQTT)
    if link is not None:
        meters = MqttMeters(link, manager)
        await meters.sync()
        manager.tree_listeners.append(meters.trees_changed)
    try:
        yield
    finally:
        if meters is not None:
            await meters.stop()
        await manager.stop()


def ocpp_handlers(hub: Any) -> None:
    """Register this feature's OCPP handlers on ``hub`` without a runtime (for ``pnc-hub ocpp
    actions``, which only reads who answers what)."""
    from sites_api.load.ev_needs import register

    register(hub, None)


__all__ = ["MIGRATIONS", "ocpp_handlers", "setup"]

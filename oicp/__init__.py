"""Hubject OICP 2.3 for the charge point operator.

- ``oicp.client``: CPO -> Hubject over mutual TLS (PushEvseData, PushEvseStatus, AuthorizeStart/
  Stop, ChargeDetailRecord, ChargingNotifications, pricing);
- ``oicp.facts`` + ``oicp.outbox`` + ``oicp.worker``: status changes, notifications and CDRs are
  written to the outbox in the transaction of the OCPP fact and drained to Hubject in order,
  coalesced, rate limited and retried until delivered;
- ``oicp.webhooks``: Hubject -> hub remote start/stop and reservations, mapped to OCPP commands;
- ``oicp.legacy``: the previous backend's /hubject/* routes and POST /api/oicp/sync, the
  outbox figures and the EVSEs whose data cannot be pushed (GET /api/oicp/evse-data/skipped);
- ``oicp.mock_hubject`` + ``oicp.mock_cli``: a Hubject double (``pnc-hub hubject-mock``) that
  checks requests against the OICP 2.3 OpenAPI (``oicp.spec``) and fires remote start/stop.

``setup(app)`` is the feature's entry point (one line in ``hub.app.features()``);
``outbox_metrics(engine)`` gives the outbox depth and age for the monitoring API; the runtime
also registers them per lane for /metrics through ``hub.metric_providers``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from hub.feature_api import HUB, evse_providers
from oicp.config import load_oicp_config
from oicp.console_pages import add_pages
from oicp.legacy import add_legacy_routes
from oicp.outbox import outbox_metrics
from oicp.runtime import OicpRuntime
from oicp.webhooks import add_webhook_routes

MIGRATIONS = Path(__file__).parent / "migrations"
OICP = web.AppKey("oicp", OicpRuntime)

__all__ = ["MIGRATIONS", "OICP", "OicpRuntime", "outbox_metrics", "setup"]


def setup(app: web.Application) -> None:
    add_webhook_routes(app)
    add_legacy_routes(app)
    add_pages(app)
    evse_providers(app)  # before the runtime: the app is frozen by then
    app.cleanup_ctx.append(_runtime)


async def _runtime(app: web.Application) -> AsyncIterator[None]:
    hub = app[HUB]
    config = load_oicp_config(hub.config.section("oicp"), dev=hub.config.dev)
    rt = OicpRuntime(hub, config, evse_providers(app))
    app[OICP] = rt
    await rt.start()
    try:
        yield
    finally:
        await rt.stop()


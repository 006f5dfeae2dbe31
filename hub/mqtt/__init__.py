"""MQTT: the hub's one broker connection (``MqttLink``, aiomqtt), owned by a runtime with a
lifetime (``mqtt_runtime`` in the app's ``cleanup_ctx``): meters in (features subscribe their
topics on ``app[MQTT]``, reached through ``hub.feature_api``), station events out
(``station_events``), and its state on ``/api/mqtt/*`` (``routes``).

Without ``[mqtt] url`` nothing connects: the link still takes subscriptions (they show as
silent) and publications are dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from hub.context import HUB
from hub.management.route_policy import grant_scopes
from hub.metrics import MetricFamily
from hub.mqtt.link import MqttLink
from hub.mqtt.routes import MQTT, add_routes
from hub.mqtt.settings import MqttSettings, mqtt_settings
from hub.mqtt.station_events import publish_station_events

log = logging.getLogger(__name__)


def add_mqtt(app: web.Application) -> None:
    """Create the link from ``[mqtt]`` (before the features' setup), its routes and runtime."""
    from hub.feature_api import CONFIG  # hub.feature_api imports this package

    app[MQTT] = MqttLink(mqtt_settings(app[CONFIG].section("mqtt")))
    routes = add_routes(app)
    grant_scopes([r for r in routes if r.method == "GET"], commands=False)
    app.cleanup_ctx.append(mqtt_runtime)


async def mqtt_runtime(app: web.Application) -> AsyncIterator[None]:
    link, hub = app[MQTT], app[HUB]
    publish_station_events(hub.bus, link)

    async def figures() -> list[MetricFamily]:
        state = link.state
        return [
            MetricFamily("pnc_hub_mqtt_connected", "gauge", "1 while the broker is connected",
                         [({}, int(state.connected))]),
            MetricFamily("pnc_hub_mqtt_messages_received_total", "counter",
                         "MQTT messages received", [({}, state.received)]),
            MetricFamily("pnc_hub_mqtt_messages_published_total", "counter",
                         "MQTT messages published (QoS 1, acknowledged)",
                         [({}, state.published)]),
            MetricFamily("pnc_hub_mqtt_publish_queue", "gauge",
                         "MQTT publications waiting for the broker", [({}, link.queued)])]

    if link.enabled:
        hub.metric_providers.append(figures)
    task = asyncio.ensure_future(link.run()) if link.enabled else None
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("the MQTT link failed")


__all__ = ["MQTT", "MqttLink", "MqttSettings", "add_mqtt", "mqtt_runtime"]

"""Site meters over MQTT: each fuse node whose meter names an ``mqtt_topic`` is subscribed on the
hub's one MQTT link (``app[MQTT]``), and its messages become meter readings of the load manager.

Payloads: a plain number (``20.5``), or JSON: a number, three numbers (L1, L2, L3), or an object
whose ``value`` or ``current`` is one of those. Anything else is counted as unreadable and
ignored (the meter's reading then ages towards its fallback). The subscriptions follow the
trees: read at start-up and again after every tree edit.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
import sqlalchemy as sa

from hub.feature_api import MqttLink
from sites_api.load.measurements import meter_value
from sites_api.load.runner import LoadManager
from sites_api.models import FuseNode

log = logging.getLogger(__name__)
LABEL = "site meter"


def parse_payload(payload: bytes) -> float | tuple[float, float, float] | None:
    try:
        data: Any = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if isinstance(data, dict):
        data = data.get("value", data.get("current"))
    return meter_value(data)


class MqttMeters:
    def __init__(self, link: MqttLink, manager: LoadManager) -> None:
        self.link = link
        self.manager = manager
        self.topics: dict[str, tuple[int, int]] = {}  # topic -> (site id, node id)
        self.unreadable = 0
        self._pending: asyncio.Task[None] | None = None
        self._again = False

    def trees_changed(self) -> None:
        """A tree edit: sync again (one sync at a time; edits meanwhile make one more)."""
        if self._pending is not None and not self._pending.done():
            self._again = True
            return
        self._pending = asyncio.ensure_future(self._sync_rounds())

    async def _sync_rounds(self) -> None:
        self._again = True
        while self._again:
            self._again = False
            try:
                await self.sync()
            except Exception:
                log.exception("MQTT meter subscriptions not synced")

    async def stop(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            await asyncio.gather(self._pending, return_exceptions=True)

    async def sync(self) -> None:
        """Subscribe what the trees name now; drop what they no longer name."""
        node = FuseNode.__table__
        async with self.manager.hub.engine.connect() as conn:
            rows = (await conn.execute(sa.select(node.c.id, node.c.site_id, node.c.name,
                                                 node.c.meter)
                                       .where(node.c.meter.is_not(None)))).all()
        wanted: dict[str, tuple[int, int, str | None]] = {}
        for node_id, site_id, name, meter in rows:
            topic = meter.get("mqtt_topic") if isinstance(meter, dict) else None
            if topic and (meter.get("is_producer") or meter.get("is_consumer")):
                wanted[topic] = (site_id, node_id, name)
        for topic in set(self.topics) - set(wanted):
            self.link.unsubscribe(topic)
            del self.topics[topic]
        for topic, (site_id, node_id, name) in wanted.items():
            if self.topics.get(topic) != (site_id, node_id):
                self.topics[topic] = (site_id, node_id)
                label = f"{LABEL}: site {site_id} node {node_id}" + (f" ({name})" if name else "")
                self.link.subscribe(topic, label, self._handler(site_id, node_id))

    def _handler(self, site_id: int, node_id: int) -> Any:
        def on_message(topic: str, payload: bytes) -> None:
            value = parse_payload(payload)
            if value is None:
                self.unreadable += 1
                log.debug("unreadable meter payload on %s: %r", topic, payload[:64])
                return
            self.manager.record_meter_reading(site_id, node_id, value, "mqtt")
        return on_message

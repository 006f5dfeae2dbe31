"""Station events out: the core's committed events published under ``[mqtt] topic_prefix``.

    {prefix}/{station_id}/connected             {"ocpp_version", "at"}
    {prefix}/{station_id}/disconnected          {"reason", "at"}
    {prefix}/{station_id}/status                {"connector_id", "status", "error_code", ...}
    {prefix}/{station_id}/transaction/started   {"transaction_id", "connector_id", ...}
    {prefix}/{station_id}/transaction/ended     {"transaction_id", "meter_stop", "reason", ...}
    {prefix}/{station_id}/meter_values          {"connector_id", "transaction_id", "samples"}

JSON, QoS 1, not retained. A ``+`` in a station id (legal in OCPP, a wildcard in MQTT) is
written ``%2B``; ``%`` itself never occurs in a station id, so the name stays unambiguous.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

import orjson

from hub.events import (
    STATION_LIVE_EVENTS,
    Event,
    EventBus,
    MeterValuesReceived,
    StationConnected,
    StationDisconnected,
    StatusChanged,
    TransactionEnded,
    TransactionStarted,
)
from hub.mqtt.link import MqttLink
from hub.services.timestamps import format_timestamp

TOPICS: dict[type[Event], str] = {
    StationConnected: "connected",
    StationDisconnected: "disconnected",
    StatusChanged: "status",
    TransactionStarted: "transaction/started",
    TransactionEnded: "transaction/ended",
    MeterValuesReceived: "meter_values",
}


def station_topic(prefix: str, station_id: str, name: str) -> str:
    return f"{prefix}/{station_id.replace('+', '%2B')}/{name}"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def event_payload(event: Event) -> bytes:
    body = {k: v for k, v in asdict(event).items() if k not in ("station_id", "remote")}
    return orjson.dumps(_plain(body))


def publish_station_events(bus: EventBus, link: MqttLink) -> None:
    prefix = link.settings.topic_prefix.strip("/")
    if not link.enabled or not prefix:
        return

    def publisher(name: str) -> Any:
        async def publish(event: Event) -> None:
            link.publish(station_topic(prefix, event.station_id, name), event_payload(event))
        return publish

    # The same events as the console's live view; a live event without a topic here fails the
    # hub's start (KeyError) rather than going silently unpublished.
    for event_type in STATION_LIVE_EVENTS:
        bus.subscribe(event_type, publisher(TOPICS[event_type]))

"""``[mqtt]``: the broker the hub talks to, read like every other section (``coerce_setting``).

Without ``url`` the hub runs without a broker: nothing connects, nothing is published, and the
MQTT routes say so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from yarl import URL

from hub.config import ConfigError, section_values


@dataclass(frozen=True)
class MqttSettings:
    # mqtt://[user:password@]host[:port] or mqtts://...; empty = no broker.
    url: str = ""
    client_id: str = ""  # empty: pnc-hub-<random>
    # Station events go to {topic_prefix}/{station_id}/{event}; empty = no events published.
    topic_prefix: str = "pnc-hub"
    keepalive: int = 60
    # Backoff between connection attempts: from reconnect_min up to reconnect_max seconds.
    reconnect_min: float = 0.5
    reconnect_max: float = 30.0
    # Events held while the broker is away (the oldest are dropped past this).
    publish_queue: int = 10_000
    # Topic filters whose messages are counted but not handed to any subscriber (the routes
    # can change the list at run time).
    ignored_topics: list[str] = field(default_factory=list)
    # Topic filters subscribed only to be seen on /api/mqtt/topics (e.g. "energy/#"), besides
    # what the meters subscribe.
    watch_topics: list[str] = field(default_factory=list)

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    @property
    def broker(self) -> URL:
        return URL(self.url)


_BOUNDS = {"keepalive": (5, 3600), "reconnect_min": (0.01, 60), "reconnect_max": (0.1, 3600),
           "publish_queue": (1, 1_000_000)}


def mqtt_settings(raw: dict[str, Any]) -> MqttSettings:
    values = section_values("mqtt", MqttSettings, raw, _BOUNDS)
    settings = MqttSettings(**values)
    if settings.url:
        url = settings.broker
        if url.scheme not in ("mqtt", "mqtts") or not url.host:
            raise ConfigError("[mqtt] url must be mqtt://host[:port] or mqtts://host[:port]")
    for name in ("ignored_topics", "watch_topics"):
        for topic in getattr(settings, name):
            problem = filter_problem(topic)
            if problem:
                raise ConfigError(f"[mqtt] {name}: {topic!r} {problem}")
    if settings.reconnect_min > settings.reconnect_max:
        raise ConfigError("[mqtt] reconnect_min must not exceed reconnect_max")
    return settings



def filter_problem(value: str) -> str | None:
    """Why ``value`` is not an MQTT topic filter (None when it is one)."""
    if not value:
        return "must not be empty"
    levels = value.split("/")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            return "'#' must be a whole level, the last one"
        if "+" in level and level != "+":
            return "'+' must be a whole level"
    if "\x00" in value:
        return "must not contain NUL"
    return None

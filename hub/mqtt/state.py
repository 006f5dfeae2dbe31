"""What the MQTT link saw and the list of ignored topics: one place for the JSON routes
(``hub.mqtt.routes``) and the console's MQTT pages (``hub.console.views_mqtt``), so both show
and change the same things by the same rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hub.mqtt.link import WATCHED, MqttLink, topic_matches
from hub.mqtt.settings import filter_problem

MAX_IGNORED = 1000
MAX_FILTER_LENGTH = 1024


class IgnoredTopicsError(ValueError):
    """A bad list of ignored topic filters; ``field`` names the entry (``topics[3]``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class LinkStatus:
    enabled: bool
    broker: str | None  # host:port, never credentials
    client_id: str
    connected: bool
    connected_since: datetime | None
    last_error: str | None
    connects: int
    published: int
    queued: int
    dropped: int
    received: int
    ignored_messages: int
    subscriptions: int
    topic_prefix: str


@dataclass(frozen=True)
class TopicView:
    topic: str
    messages: int
    last_at: datetime | None
    last_payload: str  # the first 1 KiB, as text
    ignored: bool
    subscribers: list[str]


@dataclass(frozen=True)
class SilentSubscription:
    topic: str
    label: str


def link_status(link: MqttLink) -> LinkStatus:
    state, url = link.state, link.settings.broker
    return LinkStatus(
        enabled=link.enabled, broker=f"{url.host}:{url.port}" if link.enabled else None,
        client_id=link.client_id, connected=state.connected,
        connected_since=state.connected_since, last_error=state.last_error,
        connects=state.connects, published=state.published, queued=link.queued,
        dropped=state.dropped, received=state.received, ignored_messages=state.ignored,
        subscriptions=len(link.subscriptions), topic_prefix=link.settings.topic_prefix)


def topics_seen(link: MqttLink) -> list[TopicView]:
    """Every topic seen, sorted, with its last message and who listens to it."""
    return [TopicView(
        topic, seen.messages, seen.last_at, seen.last_payload.decode("utf-8", "replace"),
        link.is_ignored(topic),
        [s.label for s in link.subscriptions.values()
         if s.label != WATCHED and topic_matches(topic, s.topic)])
        for topic, seen in sorted(link.state.topics.items())]


def silent_subscriptions(link: MqttLink) -> list[SilentSubscription]:
    """Subscriptions (e.g. site meters) that received nothing yet; watched topics excluded."""
    return [SilentSubscription(s.topic, s.label)
            for s in sorted(link.subscriptions.values(), key=lambda s: s.topic)
            if not s.messages and s.label != WATCHED]


def check_ignored(topics: object) -> list[str]:
    """The filters, checked and without repeats (first wins); IgnoredTopicsError otherwise."""
    if not isinstance(topics, list) or len(topics) > MAX_IGNORED:
        raise IgnoredTopicsError("topics", f"must be an array of at most {MAX_IGNORED} "
                                           "topic filters")
    for i, topic in enumerate(topics):
        if not isinstance(topic, str) or not 0 < len(topic) <= MAX_FILTER_LENGTH:
            raise IgnoredTopicsError(f"topics[{i}]", "must be a string of 1 to "
                                                     f"{MAX_FILTER_LENGTH} characters")
        problem = filter_problem(topic)
        if problem:
            raise IgnoredTopicsError(f"topics[{i}]", problem)
    return list(dict.fromkeys(topics))


def set_ignored(link: MqttLink, topics: object) -> list[str]:
    """Replace the ignored filters: messages on them are counted but handed to nobody."""
    link.ignored = check_ignored(topics)
    return link.ignored

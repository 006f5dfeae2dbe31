"""The hub's one MQTT connection (aiomqtt): subscriptions in, publications out, and what was seen.

``MqttLink.run()`` connects, subscribes every registered topic filter, hands each message to its
subscribers and sends what was published (QoS 1), and when the broker goes away reconnects with
backoff (tenacity, exponential with jitter between ``reconnect_min`` and ``reconnect_max``).
Publications wait in a bounded queue meanwhile (the oldest are dropped past
``publish_queue``); one in flight when the connection drops is sent again after reconnecting.

Subscribers register a topic filter with a label saying what listens (e.g. a site meter) and a
handler ``(topic, payload) -> None``; a handler's failure is logged, never fatal. Messages on
an ignored topic filter are counted but handed to nobody.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import aiomqtt
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential, wait_random

from hub.db.base import utcnow
from hub.mqtt.settings import MqttSettings

log = logging.getLogger(__name__)

Handler = Callable[[str, bytes], None]
WATCHED = "watched"  # the label of [mqtt] watch_topics: seen, handed to nobody
#: How much of a message the state routes keep per topic.
PAYLOAD_KEPT = 1024
#: Distinct topics remembered (a broker may carry many more; the rest are counted only).
TOPICS_KEPT = 10_000


@dataclass
class TopicSeen:
    messages: int = 0
    last_payload: bytes = b""
    last_at: datetime | None = None


@dataclass
class Subscription:
    topic: str  # a filter (may hold + and #)
    label: str
    handler: Handler
    last_at: datetime | None = None
    messages: int = 0


@dataclass
class LinkState:
    connected: bool = False
    connected_since: datetime | None = None
    last_error: str | None = None
    connects: int = 0
    published: int = 0
    dropped: int = 0
    received: int = 0
    ignored: int = 0
    topics: dict[str, TopicSeen] = field(default_factory=dict)


def topic_matches(topic: str, pattern: str) -> bool:
    return aiomqtt.Topic(topic).matches(pattern)


class MqttLink:
    def __init__(self, settings: MqttSettings) -> None:
        self.settings = settings
        self.state = LinkState()
        self.ignored: list[str] = list(dict.fromkeys(settings.ignored_topics))
        self.subscriptions: dict[str, Subscription] = {}
        self._outbox: deque[tuple[str, bytes]] = deque()
        self._wakeup = asyncio.Event()
        self._client: aiomqtt.Client | None = None
        self.client_id = settings.client_id or f"pnc-hub-{uuid.uuid4().hex[:12]}"
        for topic in settings.watch_topics:
            self.subscribe(topic, WATCHED, lambda topic, data: None)

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    @property
    def queued(self) -> int:
        return len(self._outbox)

    # -- subscriptions and publications ---------------------------------------------------------

    def subscribe(self, topic: str, label: str, handler: Handler) -> None:
        """Listen on ``topic`` (replacing an earlier listener of the same filter)."""
        new = topic not in self.subscriptions
        self.subscriptions[topic] = Subscription(topic, label, handler)
        if new and self._client is not None:
            asyncio.ensure_future(self._send_subscribe(self._client, topic))

    def unsubscribe(self, topic: str) -> None:
        if self.subscriptions.pop(topic, None) is not None and self._client is not None:
            asyncio.ensure_future(self._send_unsubscribe(self._client, topic))

    def publish(self, topic: str, payload: bytes) -> None:
        """Queue a QoS 1 publication (nothing happens without a broker)."""
        if not self.enabled:
            return
        if len(self._outbox) >= self.settings.publish_queue:
            self._outbox.popleft()
            self.state.dropped += 1
        self._outbox.append((topic, payload))
        self._wakeup.set()

    def is_ignored(self, topic: str) -> bool:
        return any(topic_matches(topic, pattern) for pattern in self.ignored)

    # -- the connection ---------------------------------------------------------------------

    async def run(self) -> None:
        """Stay connected until cancelled. The backoff grows while attempts fail, and starts
        again from ``reconnect_min`` after a connection that was up."""
        low, high = self.settings.reconnect_min, self.settings.reconnect_max
        while True:
            retrying = AsyncRetrying(
                retry=retry_if_exception_type((aiomqtt.MqttError, OSError)),
                wait=wait_exponential(multiplier=low, min=low, max=high) + wait_random(0, low),
                before_sleep=self._note_failure, reraise=True)
            async for attempt in retrying:
                with attempt:
                    await self._session()
            await asyncio.sleep(self.settings.reconnect_min)

    def _note_failure(self, retry_state: object) -> None:
        outcome = getattr(retry_state, "outcome", None)
        error = outcome.exception() if outcome is not None else None
        self.state.last_error = f"{type(error).__name__}: {error}" if error else None
        log.warning("MQTT broker %s unreachable (%s); reconnecting",
                    self.settings.broker.host, self.state.last_error)

    async def _session(self) -> None:
        url = self.settings.broker
        tls = ssl.create_default_context() if url.scheme == "mqtts" else None
        client = aiomqtt.Client(
            url.host or "", url.port or (8883 if tls else 1883), username=url.user,
            password=url.password, identifier=self.client_id, tls_context=tls,
            keepalive=self.settings.keepalive, timeout=10)
        was_up = False
        try:
            async with client:
                was_up = True
                self._client = client
                self.state.connected, self.state.connected_since = True, utcnow()
                self.state.connects += 1
                self.state.last_error = None
                for topic in list(self.subscriptions):
                    await client.subscribe(topic, qos=1)
                publisher = asyncio.ensure_future(self._publish_forever(client))
                try:
                    async for message in client.messages:
                        self._received(message.topic.value, message.payload)
                        if publisher.done():
                            publisher.result()  # its failure is the connection's
                finally:
                    publisher.cancel()
                    await asyncio.gather(publisher, return_exceptions=True)
        except aiomqtt.MqttError as error:
            if not was_up:
                raise  # not connected: the retry's backoff applies
            self.state.last_error = f"connection lost: {error}"
            log.warning("MQTT connection to %s lost (%s)", self.settings.broker.host, error)
        finally:
            self._client = None
            self.state.connected = False

    async def _publish_forever(self, client: aiomqtt.Client) -> None:
        while True:
            while not self._outbox:
                self._wakeup.clear()
                await self._wakeup.wait()
            topic, payload = self._outbox[0]
            await client.publish(topic, payload, qos=1, timeout=10)
            # Only once the broker has it: a send cut short is sent again after reconnecting.
            if self._outbox and self._outbox[0] == (topic, payload):
                self._outbox.popleft()
            self.state.published += 1

    async def _send_subscribe(self, client: aiomqtt.Client, topic: str) -> None:
        try:
            await client.subscribe(topic, qos=1)
        except aiomqtt.MqttError as error:
            log.info("MQTT subscribe to %s not sent (%s): sent on reconnect", topic, error)

    async def _send_unsubscribe(self, client: aiomqtt.Client, topic: str) -> None:
        try:
            await client.unsubscribe(topic)
        except aiomqtt.MqttError:
            pass  # gone with the connection anyway

    def _received(self, topic: str, payload: object) -> None:
        if isinstance(payload, bytes | bytearray):
            data = bytes(payload)
        else:  # aiomqtt hands over bytes; be safe with its other payload types
            data = b"" if payload is None else str(payload).encode()
        state = self.state
        state.received += 1
        seen = state.topics.get(topic)
        if seen is None and len(state.topics) < TOPICS_KEPT:
            seen = state.topics[topic] = TopicSeen()
        now = utcnow()
        if seen is not None:
            seen.messages += 1
            seen.last_payload, seen.last_at = data[:PAYLOAD_KEPT], now
        if self.is_ignored(topic):
            state.ignored += 1
            return
        for subscription in list(self.subscriptions.values()):
            if not topic_matches(topic, subscription.topic):
                continue
            subscription.messages += 1
            subscription.last_at = now
            try:
                subscription.handler(topic, data)
            except Exception:
                log.exception("MQTT subscriber %s failed on %s", subscription.label, topic)

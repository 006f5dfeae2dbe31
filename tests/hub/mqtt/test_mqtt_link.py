"""The hub's MQTT link against the real Mosquitto: station events out (QoS 1, under the
configured prefix), the state routes, reconnecting when the broker goes away, and a hub that
runs without any broker."""

from __future__ import annotations

import contextlib
from typing import Any

import aiohttp
from ocpp.v16 import call

from hub.db.base import utcnow
from hub.db.models import IdTag
from hub.mqtt import MQTT
from tests.harness import RunningHub, connect_station, now, wait_for
from tests.hub.mqtt.broker import (
    MQTT_URL,
    CuttableProxy,
    listening,
    needs_broker,
    payload,
    publisher,
    random_prefix,
    url_of,
)


async def get(running: RunningHub, path: str) -> Any:
    async with aiohttp.ClientSession(headers=running.auth) as http, \
            http.get(running.http_url + path) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


@needs_broker
async def test_station_events_are_published_under_the_prefix(hub_factory: Any) -> None:
    prefix = random_prefix()
    running: RunningHub = await hub_factory(dev=True, mqtt={"url": MQTT_URL,
                                                           "topic_prefix": prefix})
    link = running.app[MQTT]
    await wait_for(lambda: link.state.connected, timeout=15)
    async with listening(f"{prefix}/#") as heard:
        async with connect_station(running, "MQ+1") as cp:
            await cp.boot()
            async with running.hub.sessions() as session, session.begin():
                session.add(IdTag(id_tag="TAG", created_at=utcnow()))
            await cp.call(call.StatusNotification(connector_id=1, error_code="NoError",
                                                  status="Charging", timestamp=now()))
            tx = (await cp.call(call.StartTransaction(connector_id=1, id_tag="TAG",
                                                      meter_start=0, timestamp=now()))
                  ).transaction_id
            await cp.call(call.MeterValues(connector_id=1, transaction_id=tx, meter_value=[{
                "timestamp": now(), "sampled_value": [
                    {"value": "15.5", "measurand": "Current.Import", "unit": "A"}]}]))
            await cp.call(call.StopTransaction(transaction_id=tx, meter_stop=500,
                                               timestamp=now()))
            await wait_for(lambda: heard.on("/transaction/ended"), timeout=15)
        await wait_for(lambda: heard.on("/disconnected"), timeout=15)
    topics = [topic for topic, _ in heard.messages]
    # '+' is a wildcard in MQTT: the station id is written with %2B.
    assert all(t.startswith(f"{prefix}/MQ%2B1/") for t in topics), topics
    assert payload(heard.on("/connected")[0])["ocpp_version"] == "1.6"
    assert payload(heard.on("/status")[0])["status"] == "Charging"
    assert payload(heard.on("/transaction/started")[0])["transaction_id"] == tx
    samples = payload(heard.on("/meter_values")[0])["samples"]
    assert samples[0]["measurand"] == "Current.Import" and samples[0]["value"] == "15.5"
    assert payload(heard.on("/transaction/ended")[0])["meter_stop"] == 500
    status = await get(running, "/api/mqtt/status")
    assert status["enabled"] and status["connected"] and status["published"] >= 6
    assert status["topic_prefix"] == prefix


@needs_broker
async def test_the_link_reconnects_and_sends_what_waited(hub_factory: Any) -> None:
    prefix = random_prefix()
    proxy = CuttableProxy()
    await proxy.start()
    try:
        running: RunningHub = await hub_factory(dev=True, mqtt={
            "url": url_of(proxy), "topic_prefix": prefix, "reconnect_min": 0.1,
            "reconnect_max": 1})
        link = running.app[MQTT]
        await wait_for(lambda: link.state.connected, timeout=15)
        async with listening(f"{prefix}/#") as heard:
            await proxy.cut()
            await wait_for(lambda: not link.state.connected, timeout=15)
            # The broker is away: the event waits in the queue.
            async with connect_station(running, "MQ-2") as cp:
                await cp.boot()
                await wait_for(lambda: link.queued >= 1, timeout=15)
                status = await get(running, "/api/mqtt/status")
                assert status["connected"] is False and status["last_error"]
                await proxy.restore()
                await wait_for(lambda: link.state.connected, timeout=30)
                await wait_for(lambda: heard.on("MQ-2/connected"), timeout=15)
            # Its disconnect is published after the reconnect, through the queue: once it is
            # heard, nothing waits any more (the queue empties as each message goes out).
            await wait_for(lambda: heard.on("MQ-2/disconnected"), timeout=15)
            await wait_for(lambda: link.queued == 0, timeout=15)
        assert link.state.connects >= 2 and proxy.connections >= 2
    finally:
        await proxy.close()


@needs_broker
async def test_topics_seen_ignored_and_silent(hub_factory: Any) -> None:
    prefix = random_prefix()
    running: RunningHub = await hub_factory(dev=True, mqtt={
        "url": MQTT_URL, "topic_prefix": "", "watch_topics": [f"{prefix}/energy/#"]})
    link = running.app[MQTT]
    got: list[bytes] = []
    link.subscribe(f"{prefix}/meters/+", "test meters", lambda topic, data: got.append(data))
    link.subscribe(f"{prefix}/quiet", "quiet meter", lambda topic, data: None)
    await wait_for(lambda: link.state.connected, timeout=15)
    silent = await get(running, "/api/mqtt/silent")
    assert {s["label"] for s in silent["subscriptions"]} >= {"test meters", "quiet meter"}

    async with aiohttp.ClientSession(headers=running.auth) as http:
        url = running.http_url + "/api/mqtt/ignored-topics"
        async with http.put(url, json={"topics": ["a/#/b"]}) as resp:
            assert resp.status == 400 and (await resp.json())["field"] == "topics[0]"
        async with http.put(url, json={"topics": [f"{prefix}/meters/noisy"]}) as resp:
            assert resp.status == 200, await resp.text()
    async with publisher() as client:
        await client.publish(f"{prefix}/meters/noisy", b"99", qos=1)
        await client.publish(f"{prefix}/energy/inverter", b"{}", qos=1)
        await client.publish(f"{prefix}/meters/main", b"21.5", qos=1)
        await wait_for(lambda: got == [b"21.5"], timeout=15)
        topics = {t["topic"]: t for t in (await get(running, "/api/mqtt/topics"))["topics"]}
        await wait_for(lambda: f"{prefix}/meters/noisy" in link.state.topics, timeout=15)
    topics = {t["topic"]: t for t in (await get(running, "/api/mqtt/topics"))["topics"]}
    assert topics[f"{prefix}/meters/main"]["last_payload"] == "21.5"
    assert topics[f"{prefix}/meters/main"]["subscribers"] == ["test meters"]
    assert topics[f"{prefix}/meters/noisy"]["ignored"] is True
    # Watched only: seen on the topics page, heard by nobody, never "silent".
    await wait_for(lambda: f"{prefix}/energy/inverter" in link.state.topics, timeout=15)
    topics = {t["topic"]: t for t in (await get(running, "/api/mqtt/topics"))["topics"]}
    assert topics[f"{prefix}/energy/inverter"]["subscribers"] == []
    assert got == [b"21.5"]  # the ignored topic reached nobody
    silent = await get(running, "/api/mqtt/silent")
    labels = {s["label"] for s in silent["subscriptions"]}
    assert "quiet meter" in labels and "test meters" not in labels and "watched" not in labels
    assert (await get(running, "/api/mqtt/ignored-topics"))["topics"] == [
        f"{prefix}/meters/noisy"]


async def test_the_hub_runs_without_a_broker(hub_factory: Any) -> None:
    running: RunningHub = await hub_factory(dev=True)
    status = await get(running, "/api/mqtt/status")
    assert status["enabled"] is False and status["connected"] is False
    async with contextlib.AsyncExitStack() as stack:
        cp = await stack.enter_async_context(connect_station(running, "MQ-3"))
        await cp.boot()
    assert running.app[MQTT].queued == 0  # nothing is held for a broker that is not there

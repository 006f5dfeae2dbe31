"""The console's live feed: which events it pushes, to whom, and how streams end."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from hub.cluster import SingleNode
from hub.console.feed import ConsoleFeed, event_data
from hub.db.base import utcnow
from hub.events import (
    STATION_LIVE_EVENTS,
    EventBus,
    MeterValuesReceived,
    StationConnected,
    StationDisconnected,
    StatusChanged,
    TransactionEnded,
    TransactionStarted,
)
from tests.harness import wait_for


def _samples() -> list:
    at = utcnow()
    return [StationConnected(station_id="S", ocpp_version="1.6"),
            StationDisconnected(station_id="S"),
            StatusChanged(station_id="S", connector_id=1, status="Charging"),
            TransactionStarted(station_id="S", transaction_id=7, connector_id=1, id_tag="T",
                               meter_start=0, timestamp=at),
            TransactionEnded(station_id="S", transaction_id=7, connector_id=1, id_tag="T",
                             meter_start=0, meter_stop=5, start_timestamp=at, stop_timestamp=at),
            MeterValuesReceived(station_id="S", connector_id=1, transaction_id=7, samples=(
                {"measurand": "Power.Active.Import", "value": "11000", "unit": "W"},))]


def test_every_live_event_has_its_named_sse_event() -> None:
    events = _samples()
    assert {type(e) for e in events} == set(STATION_LIVE_EVENTS)
    assert [event_data(e)[0] for e in events] == [
        "connection", "connection", "status", "transaction", "transaction", "meter"]
    assert event_data(events[2])[1]["status"] == "Charging"
    assert event_data(events[5])[1]["samples"][0]["value"] == "11000"


async def test_a_page_gets_its_stations_events_only_and_its_stream_ends_at_shutdown() -> None:
    bus = EventBus()
    feed = ConsoleFeed()
    feed.attach(SimpleNamespace(bus=bus, cluster=SingleNode(bus)))  # type: ignore[arg-type]
    got: list = []

    async def page() -> None:
        async for item in feed.watch("S", heartbeat=60):
            got.append(item)

    task = asyncio.create_task(page())
    await wait_for(lambda: "S" in feed._watchers)  # the page is watching
    for event in (*_samples(), StatusChanged(station_id="OTHER", connector_id=1,
                                             status="Faulted")):
        bus.publish(event)
    await bus.drain()
    feed.close()
    await asyncio.wait_for(task, 10)
    assert [name for name, _data in got] == [
        "connection", "connection", "status", "transaction", "transaction", "meter"]
    assert all(data["station_id"] == "S" for _name, data in got)
    assert not feed._watchers  # the ended page no longer gets events


async def test_a_burst_of_events_makes_one_tick() -> None:
    bus = EventBus()
    feed = ConsoleFeed()
    feed.attach(SimpleNamespace(bus=bus, cluster=SingleNode(bus)))  # type: ignore[arg-type]
    ticks = feed.ticks("S", every=60)
    first = asyncio.create_task(anext(ticks))
    await wait_for(lambda: "S" in feed._watchers)
    for n in range(50):
        bus.publish(MeterValuesReceived(station_id="S", connector_id=1, transaction_id=n))
    await bus.drain()
    await asyncio.wait_for(first, 10)
    feed.close()
    with pytest.raises(StopAsyncIteration):  # the other 49 went with the first tick
        await asyncio.wait_for(anext(ticks), 10)

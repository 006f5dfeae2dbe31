"""The load manager end to end: a real hub, real `ocpp` 1.6 and 2.0.1 stations on a 32 A site.

Sessions start one after another; each station gets a TxProfile; the limits the stations hold
never add up past 32 A (checked at every profile a station receives); a stop raises the
others; a tree edit re-plans; a station that goes offline is planned at its maximum; an MQTT
reading of a 20 A consumer lowers everyone's limit, and a stale meter falls back.
"""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime
from typing import Any

import aiohttp
from ocpp.v16 import call, call_result
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as call_result201

from hub.db.base import utcnow
from hub.db.models import IdTag
from sites_api.load.runner import LOAD
from tests.harness import RunningHub, connect_station, connect_station201, now, wait_for
from tests.hub.mqtt.broker import MQTT_URL, needs_broker, publisher, random_prefix

SITE_LIMIT = 32.0


class Held:
    """The limit each station holds now, checked against the site's fuse on every change."""

    def __init__(self) -> None:
        self.limits: dict[str, float] = {}
        self.violations: list[dict[str, float]] = []
        self.profiles: dict[str, int] = {}
        self.times: dict[str, list[float]] = {}
        self.fuse = SITE_LIMIT

    def set(self, station: str, limit: float) -> None:
        self.limits[station] = float(limit)
        self.profiles[station] = self.profiles.get(station, 0) + 1
        self.times.setdefault(station, []).append(time.monotonic())
        if sum(self.limits.values()) > self.fuse + 1e-6:
            self.violations.append(dict(self.limits))

    def answer16(self, station: str) -> Any:
        def answer(**kw: Any) -> Any:
            profile = kw["cs_charging_profiles"]
            assert profile["charging_profile_purpose"] == "TxProfile"
            assert profile["transaction_id"]
            self.set(station, profile["charging_schedule"]["charging_schedule_period"][0]["limit"])
            return call_result.SetChargingProfile(status="Accepted")
        return answer

    def answer201(self, station: str) -> Any:
        def answer(**kw: Any) -> Any:
            profile = kw["charging_profile"]
            assert profile["charging_profile_purpose"] == "TxProfile"
            assert profile["transaction_id"] == "TX-C"
            self.set(station, profile["charging_schedule"][0]["charging_schedule_period"][0][
                "limit"])
            return call_result201.SetChargingProfile(status="Accepted")
        return answer


def site_body() -> dict[str, Any]:
    def connector(station: str, capability: list[int]) -> dict[str, Any]:
        return {"connector_id": "1", "charging_station_id": station, "priority": 0,
                "charging_capability": capability}
    return {"name": "Depot", "organization_id": "acme", "fuse_tree": [{
        "type": "fuse", "parameters": {"name": "Main", "limit": SITE_LIMIT, "connectors": [
            connector("LM-A", []), connector("LM-B", []),
            connector("LM-C", list(range(6, 17)))]}, "children": []}]}


async def test_a_32_a_site_with_three_stations(hub_factory: Any) -> None:
    running: RunningHub = await hub_factory(dev=True, load={"min_interval": 0, "hysteresis": 1})
    held = Held()
    async with contextlib.AsyncExitStack() as stack, aiohttp.ClientSession(
            headers=running.auth) as http:
        a = await stack.enter_async_context(connect_station(running, "LM-A"))
        b = await stack.enter_async_context(connect_station(running, "LM-B"))
        c_stack = contextlib.AsyncExitStack()
        stack.push_async_callback(c_stack.aclose)
        c = await c_stack.enter_async_context(connect_station201(running, "LM-C"))
        for cp in (a, b):
            await cp.boot()
        await c.boot()
        a.answers["SetChargingProfile"] = held.answer16("LM-A")
        b.answers["SetChargingProfile"] = held.answer16("LM-B")
        c.answers["SetChargingProfile"] = held.answer201("LM-C")
        async with running.hub.sessions() as session, session.begin():
            session.add(IdTag(id_tag="TAG", created_at=utcnow()))
        base = running.http_url
        async with http.put(f"{base}/organisations/acme", json={"name": "Acme"}) as resp:
            assert resp.status == 200, await resp.text()
        async with http.post(f"{base}/sites", json=site_body()) as resp:
            assert resp.status == 201, await resp.text()
            site = await resp.json()
        site_id, root = site["id"], site["fuse_tree"][0]["id"]

        async def load() -> dict[str, Any]:
            async with http.get(f"{base}/sites/{site_id}/load") as resp:
                assert resp.status == 200, await resp.text()
                return await resp.json()

        def holds(expected: dict[str, float]) -> bool:
            return all(held.limits.get(k) == v for k, v in expected.items())

        started = await a.call(call.StartTransaction(connector_id=1, id_tag="TAG", meter_start=0,
                                                     timestamp=now()))
        await wait_for(lambda: holds({"LM-A": 32.0}), timeout=10)
        tx_b = (await b.call(call.StartTransaction(connector_id=1, id_tag="TAG", meter_start=0,
                                                   timestamp=now()))).transaction_id
        await wait_for(lambda: holds({"LM-A": 16.0, "LM-B": 16.0}), timeout=10)
        await c.call(call201.TransactionEvent(
            event_type="Started", timestamp=datetime.now(UTC).isoformat(), seq_no=0,
            trigger_reason="Authorized", transaction_info={"transaction_id": "TX-C"},
            evse={"id": 1, "connector_id": 1}, id_token={"id_token": "TAG", "type": "ISO14443"}))
        await wait_for(lambda: len(held.limits) == 3 and sum(held.limits.values()) == 32.0,
                       timeout=10)
        assert sorted(held.limits.values()) == [10.0, 11.0, 11.0]

        # A stop raises the others: C to its maximum (16), A to the rest.
        await b.call(call.StopTransaction(transaction_id=tx_b, meter_stop=10, timestamp=now()))
        held.limits.pop("LM-B")  # its TxProfile ended with the transaction
        await wait_for(lambda: holds({"LM-A": 16.0, "LM-C": 16.0}), timeout=10)

        async def a_acknowledged() -> bool:
            # The station holds it once it answered; the hub records the answer just after.
            a_view = {c["station_id"]: c for c in (await load())["connectors"]}["LM-A"]
            return a_view["limit_sent"] == 16.0 and a_view["acknowledged"]

        await wait_for(a_acknowledged, timeout=10)
        view = await load()
        by_station = {c["station_id"]: c for c in view["connectors"]}
        assert by_station["LM-B"]["state"] == "idle" and by_station["LM-B"]["planned"] == 0
        assert view["nodes"][0]["limit"] == SITE_LIMIT
        assert view["nodes"][0]["planned"] == [32.0, 32.0, 32.0]

        # A tree edit re-plans: a bigger fuse raises A (C is at its maximum already).
        held.fuse = 40.0
        async with http.patch(f"{base}/sites/{site_id}/fuse-tree/nodes/{root}",
                              json={"parameters": {"limit": 40}}) as resp:
            assert resp.status == 200, await resp.text()
        await wait_for(lambda: holds({"LM-A": 24.0}), timeout=10)

        # C goes offline: it is planned at its maximum, and A keeps what is left.
        await c_stack.aclose()
        await wait_for(lambda: "LM-C" not in running.hub.stations, timeout=10)

        async def c_fixed() -> bool:
            view = await load()
            c_view = {x["station_id"]: x for x in view["connectors"]}["LM-C"]
            return c_view["state"] == "fixed" and c_view["planned"] == 16.0

        await wait_for(c_fixed, timeout=10)
        assert held.violations == []
        assert held.profiles["LM-A"] >= 4 and held.profiles["LM-C"] >= 2
        assert started.transaction_id


async def test_limits_move_at_most_once_per_interval_and_past_the_hysteresis(
        hub_factory: Any) -> None:
    running: RunningHub = await hub_factory(dev=True, load={"min_interval": 4, "hysteresis": 1})
    held = Held()
    async with contextlib.AsyncExitStack() as stack, aiohttp.ClientSession(
            headers=running.auth) as http:
        a = await stack.enter_async_context(connect_station(running, "LM-A"))
        b = await stack.enter_async_context(connect_station(running, "LM-B"))
        for station, cp in (("LM-A", a), ("LM-B", b)):
            await cp.boot()
            cp.answers["SetChargingProfile"] = held.answer16(station)
        base = running.http_url
        async with http.put(f"{base}/organisations/acme", json={"name": "Acme"}) as resp:
            assert resp.status == 200
        body = site_body()
        body["fuse_tree"][0]["parameters"]["connectors"].pop()  # no LM-C here
        async with http.post(f"{base}/sites", json=body) as resp:
            assert resp.status == 201, await resp.text()
            site = await resp.json()
        root = site["fuse_tree"][0]["id"]

        def holds(expected: dict[str, float]) -> bool:
            return all(held.limits.get(k) == v for k, v in expected.items())

        await a.call(call.StartTransaction(connector_id=1, id_tag="TAG", meter_start=0,
                                           timestamp=now()))
        await wait_for(lambda: holds({"LM-A": 32.0}), timeout=10)
        await b.call(call.StartTransaction(connector_id=1, id_tag="TAG", meter_start=0,
                                           timestamp=now()))
        # A's limit may not move yet: B waits at 0 A, then both move to an equal share.
        await wait_for(lambda: holds({"LM-A": 32.0, "LM-B": 0.0}), timeout=10)
        await wait_for(lambda: holds({"LM-A": 16.0, "LM-B": 16.0}), timeout=20)
        assert held.profiles == {"LM-A": 2, "LM-B": 2}

        async def fuse(limit: float) -> None:
            held.fuse = min(held.fuse, limit)
            async with http.patch(f"{base}/sites/{site['id']}/fuse-tree/nodes/{root}",
                                  json={"parameters": {"limit": limit}}) as resp:
                assert resp.status == 200, await resp.text()
            held.fuse = limit

        manager = running.app[LOAD]
        rounds = manager.rounds
        await fuse(34)  # 17 A each: a move of 1 A is within the hysteresis, nothing is sent
        site_id = int(site["id"])
        await wait_for(lambda: manager.rounds > rounds and manager.idle(site_id), timeout=20)
        assert held.profiles == {"LM-A": 2, "LM-B": 2}
        await fuse(36)  # 18 A each: sent, once the interval since each one's last send is over
        await wait_for(lambda: holds({"LM-A": 18.0, "LM-B": 18.0}), timeout=20)
        await wait_for(lambda: manager.idle(site_id), timeout=20)
        for station, times in held.times.items():
            gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
            assert min(gaps) >= 3.9, (station, gaps)  # the hub's interval is 4 s
        assert held.violations == []


@needs_broker
async def test_an_mqtt_consumer_reading_lowers_the_limits_until_it_goes_stale(
        hub_factory: Any) -> None:
    topic = f"{random_prefix()}/heat-pump/current"
    running: RunningHub = await hub_factory(dev=True, load={
        "min_interval": 0, "replan_interval": 0, "meter_max_age": 2},
        mqtt={"url": MQTT_URL, "topic_prefix": ""})
    held = Held()
    async with contextlib.AsyncExitStack() as stack, aiohttp.ClientSession(
            headers=running.auth) as http:
        a = await stack.enter_async_context(connect_station(running, "LM-A"))
        c = await stack.enter_async_context(connect_station201(running, "LM-C"))
        await a.boot()
        await c.boot()
        a.answers["SetChargingProfile"] = held.answer16("LM-A")
        c.answers["SetChargingProfile"] = held.answer201("LM-C")
        held.fuse = SITE_LIMIT - 4  # what rises is checked against the fuse less the fallback
        async with running.hub.sessions() as session, session.begin():
            session.add(IdTag(id_tag="TAG", created_at=utcnow()))
        base = running.http_url
        async with http.put(f"{base}/organisations/acme", json={"name": "Acme"}) as resp:
            assert resp.status == 200
        body = site_body()
        connectors = body["fuse_tree"][0]["parameters"]["connectors"]
        connectors[:] = [connectors[0], connectors[2]]  # A and C
        connectors[1]["charging_capability"] = []
        body["fuse_tree"][0]["children"] = [{"type": "meter", "parameters": {
            "name": "Heat pump", "meter": {"is_consumer": True, "max_possible_current": 32,
                                           "fallback_value": 4, "mqtt_topic": topic}},
            "children": []}]
        async with http.post(f"{base}/sites", json=body) as resp:
            assert resp.status == 201, await resp.text()
            site = await resp.json()

        def holds(expected: dict[str, float]) -> bool:
            return all(held.limits.get(k) == v for k, v in expected.items())

        await a.call(call.StartTransaction(connector_id=1, id_tag="TAG", meter_start=0,
                                           timestamp=now()))
        await c.call(call201.TransactionEvent(
            event_type="Started", timestamp=datetime.now(UTC).isoformat(), seq_no=0,
            trigger_reason="Authorized", transaction_info={"transaction_id": "TX-C"},
            evse={"id": 1, "connector_id": 1}, id_token={"id_token": "TAG", "type": "ISO14443"}))
        # No reading yet: the meter's fallback (4 A) is planned, 28 A are shared.
        await wait_for(lambda: holds({"LM-A": 14.0, "LM-C": 14.0}), timeout=15)

        async with publisher() as meter:
            async def reports(value: bytes, expected: dict[str, float]) -> bool:
                await meter.publish(topic, value, qos=1)  # a meter reports again and again
                return holds(expected)

            # 20 A on the heat pump: 12 A left, 6 A each. (The stations hold more until the
            # decreases land: a sudden consumer is what the fuse's margin is for.)
            await wait_for(lambda: reports(b'{"current": 20}', {"LM-A": 6.0, "LM-C": 6.0}),
                           timeout=20, interval=0.3)
        view = await (await http.get(f"{base}/sites/{site['id']}/load")).json()
        meter_view = next(n["meter"] for n in view["nodes"] if n["meter"])
        assert meter_view["source"] == "mqtt" and meter_view["value"] == 20
        # The meter falls silent: after meter_max_age its fallback applies again.
        await wait_for(lambda: holds({"LM-A": 14.0, "LM-C": 14.0}), timeout=20)
        assert held.violations == []
        status = await (await http.get(f"{base}/api/mqtt/silent")).json()
        assert all(s["topic"] != topic for s in status["subscriptions"])

"""Fallbacks: a node's ``fallback`` goes to its stations as a TxDefaultProfile at the lowest stack
level, and the Sites API shows the change on its way (pending, applied, failed)."""

from __future__ import annotations

import contextlib
from typing import Any

import aiohttp
from ocpp.v16 import call, call_result

from hub.db.base import utcnow
from hub.db.models import IdTag
from sites_api.load.fallbacks import fallback_limits, node_statuses
from sites_api.load.model import Connector, Node, Tree, compile_tree
from tests.harness import RunningHub, connect_station, now, wait_for


def test_a_fallback_is_shared_and_the_tightest_applies() -> None:
    tree = compile_tree(Tree(
        (Node("root", None, 63), Node("sub", "root", 32)),
        (Connector("a", "root"), Connector("b", "sub"), Connector("c", "sub"),
         Connector("d", "root", levels=(8.0, 16.0)))))
    # 28 A over four connectors: 7 each; the sub-node's 10 A over two: 5, below the minimum.
    assert fallback_limits(tree, {"root": 28}) == {"a": 7.0, "b": 7.0, "c": 7.0, "d": 0.0}
    assert fallback_limits(tree, {"root": 28, "sub": 10}) == {
        "a": 7.0, "b": 0.0, "c": 0.0, "d": 0.0}
    limits = fallback_limits(tree, {"sub": 14})
    assert limits == {"b": 7.0, "c": 7.0}
    assert node_statuses(tree, {"sub": 14}, limits, {"b": 7.0}, set()) == {"sub": "pending"}
    assert node_statuses(tree, {"sub": 14}, limits, {"b": 7.0, "c": 7.0}, set()) == {
        "sub": "applied"}
    assert node_statuses(tree, {"sub": 14}, limits, {"b": 7.0}, {"c"}) == {"sub": "failed"}


async def test_fallback_profiles_and_their_status(hub_factory: Any) -> None:
    running: RunningHub = await hub_factory(dev=True, load={"min_interval": 0})
    received: dict[str, list[dict[str, Any]]] = {"FB-A": [], "FB-B": []}
    answer = {"FB-A": "Accepted", "FB-B": "Rejected"}
    cleared: dict[str, list[int]] = {"FB-A": [], "FB-B": []}

    def on_clear(station: str) -> Any:
        def handler(**kw: Any) -> Any:
            cleared[station].append(kw.get("id"))
            return call_result.ClearChargingProfile(status="Accepted")
        return handler

    def on_profile(station: str) -> Any:
        def handler(**kw: Any) -> Any:
            received[station].append(kw)
            return call_result.SetChargingProfile(status=answer[station])
        return handler

    async with contextlib.AsyncExitStack() as stack, aiohttp.ClientSession(
            headers=running.auth) as http:
        a = await stack.enter_async_context(connect_station(running, "FB-A"))
        await a.boot()
        a.answers["SetChargingProfile"] = on_profile("FB-A")
        a.answers["ClearChargingProfile"] = on_clear("FB-A")
        b_stack = contextlib.AsyncExitStack()
        stack.push_async_callback(b_stack.aclose)
        b = await b_stack.enter_async_context(connect_station(running, "FB-B"))
        await b.boot()
        b.answers["SetChargingProfile"] = on_profile("FB-B")
        base = running.http_url
        async with http.put(f"{base}/organisations/acme", json={"name": "Acme"}) as resp:
            assert resp.status == 200
        body = {"name": "Fallback", "organization_id": "acme", "fuse_tree": [{
            "type": "fuse", "parameters": {"name": "Main", "limit": 32, "fallback": 12,
                                           "connectors": [
                {"connector_id": 1, "charging_station_id": s} for s in ("FB-A", "FB-B")]},
            "children": []}]}
        async with http.post(f"{base}/sites", json=body) as resp:
            assert resp.status == 201, await resp.text()
            created = await resp.json()
            site_id, node_id = created["id"], created["fuse_tree"][0]["id"]

        async def node_state() -> tuple[Any, Any]:
            async with http.get(f"{base}/sites/{site_id}") as resp:
                params = (await resp.json())["fuse_tree"][0]["parameters"]
                return params["pending_fallback_value"], params["fallback_status"]

        async def state_is(expected: tuple[Any, Any]) -> bool:
            return await node_state() == expected

        # B refuses: the node's fallback change failed, 12 A still pending.
        await wait_for(lambda: state_is((12.0, "failed")), timeout=15)
        profile = received["FB-A"][0]["cs_charging_profiles"]
        assert received["FB-A"][0]["connector_id"] == 1
        assert profile["charging_profile_purpose"] == "TxDefaultProfile"
        assert profile["stack_level"] == 0 and "transaction_id" not in profile
        assert profile["charging_schedule"]["charging_schedule_period"][0]["limit"] == 6.0

        # B comes back and accepts: applied, nothing pending.
        await b_stack.aclose()
        await wait_for(lambda: "FB-B" not in running.hub.stations, timeout=10)
        answer["FB-B"] = "Accepted"
        b = await stack.enter_async_context(connect_station(running, "FB-B"))
        b.answers["SetChargingProfile"] = on_profile("FB-B")
        b.answers["ClearChargingProfile"] = on_clear("FB-B")
        await b.boot()
        await wait_for(lambda: state_is((None, "applied")), timeout=15)
        assert len(received["FB-A"]) == 1  # A held it already: not sent again

        # The operator removes the fallback: the profiles are cleared by their id.
        profile_id = profile["charging_profile_id"]
        async with http.patch(f"{base}/sites/{site_id}/fuse-tree/nodes/{node_id}",
                              json={"parameters": {"fallback": None}}) as resp:
            assert resp.status == 200, await resp.text()
        await wait_for(lambda: cleared["FB-A"] == [profile_id] and cleared["FB-B"], timeout=15)


async def test_a_cleared_fallback_leaves_nothing_pending(hub_factory: Any) -> None:
    """A fallback cleared while a station was offline (so still pending) shows neither a
    pending value nor a status any more."""
    running: RunningHub = await hub_factory(dev=True, load={"min_interval": 0})
    cleared: list[int] = []

    def on_clear(**kw: Any) -> Any:
        cleared.append(kw.get("id"))
        return call_result.ClearChargingProfile(status="Accepted")

    async with contextlib.AsyncExitStack() as stack, aiohttp.ClientSession(
            headers=running.auth) as http:
        async with connect_station(running, "FC-OFF") as gone:
            await gone.boot()
        await wait_for(lambda: "FC-OFF" not in running.hub.stations, timeout=10)
        a = await stack.enter_async_context(connect_station(running, "FC-ON"))
        await a.boot()
        a.answers["SetChargingProfile"] = lambda **kw: call_result.SetChargingProfile(
            status="Accepted")
        a.answers["ClearChargingProfile"] = on_clear
        base = running.http_url
        async with http.put(f"{base}/organisations/acme", json={"name": "Acme"}) as resp:
            assert resp.status == 200
        body = {"name": "Cleared", "organization_id": "acme", "fuse_tree": [{
            "type": "fuse", "parameters": {"name": "Main", "limit": 32, "fallback": 12,
                                           "connectors": [
                {"connector_id": 1, "charging_station_id": s} for s in ("FC-ON", "FC-OFF")]},
            "children": []}]}
        async with http.post(f"{base}/sites", json=body) as resp:
            assert resp.status == 201, await resp.text()
            created = await resp.json()
            site_id, node_id = created["id"], created["fuse_tree"][0]["id"]

        async def state_is(expected: tuple[Any, Any]) -> bool:
            async with http.get(f"{base}/sites/{site_id}") as resp:
                params = (await resp.json())["fuse_tree"][0]["parameters"]
                return (params["pending_fallback_value"], params["fallback_status"]) == expected

        await wait_for(lambda: state_is((12.0, "pending")), timeout=15)  # FC-OFF is offline
        async with http.patch(f"{base}/sites/{site_id}/fuse-tree/nodes/{node_id}",
                              json={"parameters": {"fallback": None}}) as resp:
            assert resp.status == 200, await resp.text()
        await wait_for(lambda: state_is((None, None)), timeout=15)
        await wait_for(lambda: len(cleared) == 1, timeout=15)  # FC-ON's profile goes too


async def test_a_connector_taken_out_of_the_site_is_let_go(hub_factory: Any) -> None:
    """Taken out of the tree, a charging connector's limit is cleared on the station and
    forgotten: put back, it gets its limit again."""
    running: RunningHub = await hub_factory(dev=True, load={"min_interval": 0})
    limits: list[tuple[int, float]] = []
    cleared: list[int] = []

    def on_profile(**kw: Any) -> Any:
        profile = kw["cs_charging_profiles"]
        limits.append((profile["charging_profile_id"],
                       profile["charging_schedule"]["charging_schedule_period"][0]["limit"]))
        return call_result.SetChargingProfile(status="Accepted")

    def on_clear(**kw: Any) -> Any:
        cleared.append(kw.get("id"))
        return call_result.ClearChargingProfile(status="Accepted")

    async with contextlib.AsyncExitStack() as stack, aiohttp.ClientSession(
            headers=running.auth) as http:
        cp = await stack.enter_async_context(connect_station(running, "RM-1"))
        await cp.boot()
        cp.answers["SetChargingProfile"] = on_profile
        cp.answers["ClearChargingProfile"] = on_clear
        async with running.hub.sessions() as session, session.begin():
            session.add(IdTag(id_tag="TAG", created_at=utcnow()))
        base = running.http_url
        async with http.put(f"{base}/organisations/acme", json={"name": "Acme"}) as resp:
            assert resp.status == 200

        def tree(connectors: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [{"type": "fuse", "parameters": {"name": "Main", "limit": 32,
                                                     "connectors": connectors}}]

        plugged = [{"connector_id": 1, "charging_station_id": "RM-1"}]
        async with http.post(f"{base}/sites", json={
                "name": "Removed", "organization_id": "acme", "fuse_tree": tree(plugged)}
                ) as resp:
            assert resp.status == 201, await resp.text()
            site_id = (await resp.json())["id"]
        await cp.call(call.StartTransaction(connector_id=1, id_tag="TAG", meter_start=0,
                                            timestamp=now()))
        await wait_for(lambda: [amps for _, amps in limits] == [32.0], timeout=15)

        async with http.put(f"{base}/sites/{site_id}/fuse-tree", json=tree([])) as resp:
            assert resp.status == 200, await resp.text()
        await wait_for(lambda: cleared == [limits[0][0]], timeout=15)
        async with http.put(f"{base}/sites/{site_id}/fuse-tree", json=tree(plugged)) as resp:
            assert resp.status == 200, await resp.text()
        await wait_for(lambda: [amps for _, amps in limits] == [32.0, 32.0], timeout=15)


async def test_a_station_removed_while_offline_drops_its_fallback_on_return(
        hub_factory: Any) -> None:
    running: RunningHub = await hub_factory(dev=True, load={"min_interval": 0})
    profiles: list[int] = []
    cleared: list[int] = []

    def answers(station: Any) -> None:
        def on_profile(**kw: Any) -> Any:
            profiles.append(kw["cs_charging_profiles"]["charging_profile_id"])
            return call_result.SetChargingProfile(status="Accepted")

        def on_clear(**kw: Any) -> Any:
            cleared.append(kw.get("id"))
            return call_result.ClearChargingProfile(status="Accepted")
        station.answers["SetChargingProfile"] = on_profile
        station.answers["ClearChargingProfile"] = on_clear

    async with aiohttp.ClientSession(headers=running.auth) as http:
        base = running.http_url
        async with http.put(f"{base}/organisations/acme", json={"name": "Acme"}) as resp:
            assert resp.status == 200
        async with connect_station(running, "FO-1") as cp:
            await cp.boot()
            answers(cp)
            async with http.post(f"{base}/sites", json={
                    "name": "Away", "organization_id": "acme", "fuse_tree": [{
                        "type": "fuse", "parameters": {"name": "Main", "limit": 32,
                                                       "fallback": 10, "connectors": [
                            {"connector_id": 1, "charging_station_id": "FO-1"}]}}]}) as resp:
                assert resp.status == 201, await resp.text()
                site_id = (await resp.json())["id"]

            async def applied() -> bool:  # the hub has the station's answer, not only sent it
                async with http.get(f"{base}/sites/{site_id}") as resp:
                    node = (await resp.json())["fuse_tree"][0]["parameters"]
                    return node["fallback_status"] == "applied"

            await wait_for(applied, timeout=15)
            assert len(profiles) == 1
        await wait_for(lambda: "FO-1" not in running.hub.stations, timeout=10)
        async with http.put(f"{base}/sites/{site_id}/fuse-tree", json=[
                {"type": "fuse", "parameters": {"name": "Main", "limit": 32}}]) as resp:
            assert resp.status == 200, await resp.text()
        async with connect_station(running, "FO-1") as cp:
            answers(cp)
            await cp.boot()
            await wait_for(lambda: cleared == profiles, timeout=15)

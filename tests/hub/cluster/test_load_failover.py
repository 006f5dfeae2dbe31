"""The load manager across three hub processes: one node plans the site (its lease), sending
profiles to stations on other nodes; when that node is killed, another takes the site over at
the next event and the limits follow, never adding up past the fuse."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import sqlalchemy as sa
import websockets
from ocpp.v16 import call, call_result

from hub.db import create_engine
from hub.db.base import utcnow
from hub.db.models import IdTag
from tests.harness import TestStation, now, running_charge_point, wait_for
from tests.harness.process import HubProcess
from tests.hub.cluster.conftest import Cluster
from tests.hub.cluster.test_routing import connected_everywhere

FUSE = 32.0


class Held:
    def __init__(self) -> None:
        self.limits: dict[str, float] = {}
        self.violations: list[dict[str, float]] = []

    def answer(self, station: str) -> Any:
        def answer(**kw: Any) -> Any:
            period = kw["cs_charging_profiles"]["charging_schedule"]["charging_schedule_period"]
            self.limits[station] = float(period[0]["limit"])
            if sum(self.limits.values()) > FUSE + 1e-6:
                self.violations.append(dict(self.limits))
            return call_result.SetChargingProfile(status="Accepted")
        return answer

    def holds(self, expected: dict[str, float]) -> bool:
        return all(self.limits.get(k) == v for k, v in expected.items())


@contextlib.asynccontextmanager
async def managed(node: HubProcess, station_id: str, held: Held) -> AsyncIterator[TestStation]:
    async with websockets.connect(node.ws_url(station_id), subprotocols=["ocpp1.6"]) as ws:
        async with running_charge_point(TestStation(station_id, ws)) as cp:
            cp.answers["SetChargingProfile"] = held.answer(station_id)
            await cp.boot()
            yield cp


def site_body() -> dict[str, Any]:
    return {"name": "Depot", "organization_id": "acme", "fuse_tree": [{
        "type": "fuse", "parameters": {"name": "Main", "limit": FUSE, "connectors": [
            {"connector_id": "1", "charging_station_id": sid, "priority": 0,
             "charging_capability": []} for sid in ("LM-1", "LM-2")]}, "children": []}]}


async def planner_of(cluster: Cluster, site_id: int) -> str | None:
    for node, process in cluster.nodes.items():
        if process.proc is None or process.proc.poll() is not None:
            continue
        status, state = await cluster.get(node, "/api/cluster")
        if status == 200 and f"load-site:{site_id}" in state["leases"]:
            return node
    return None


async def test_a_site_is_planned_by_one_node_and_fails_over(cluster: Cluster) -> None:
    settings = {"load__min_interval": "0", "load__hysteresis": "1"}
    nodes = {n: await cluster.start(n, **settings) for n in ("A", "B", "C")}
    engine = create_engine(cluster.database_url)
    async with engine.begin() as conn:
        await conn.execute(sa.insert(IdTag).values(id_tag="TAG", created_at=utcnow()))
    await engine.dispose()
    held = Held()
    stations = {"LM-1": "A", "LM-2": "B"}
    async with contextlib.AsyncExitStack() as stack:
        cps = {sid: await stack.enter_async_context(managed(nodes[n], sid, held))
               for sid, n in stations.items()}
        for sid in stations:
            await wait_for(lambda sid=sid: connected_everywhere(cluster, sid, ["A", "B", "C"],
                                                                  stations[sid]),
                           20)
        # The site is written through node C, which holds none of its stations.
        assert (await _put(cluster, "C", "/organisations/acme", {"name": "Acme"}))[0] == 200
        status, site = await cluster.post("C", "/sites", site_body())
        assert status == 201, site
        site_id = site["id"]
        tx = {sid: (await cp.call(call.StartTransaction(
            connector_id=1, id_tag="TAG", meter_start=0, timestamp=now()))).transaction_id
            for sid, cp in cps.items()}
        await wait_for(lambda: held.holds({"LM-1": 16.0, "LM-2": 16.0}), 20)
        planner = await wait_for(lambda: planner_of(cluster, site_id), 20)
        holders = [n for n in ("A", "B", "C")
                   if f"load-site:{site_id}" in (await cluster.get(n, "/api/cluster"))[1][
                       "leases"]]
        assert holders == [planner]  # one node plans the site

        # The planner dies; its stations reconnect to a node that is still up.
        nodes[planner].kill()
        alive = [n for n in ("A", "B", "C") if n != planner]
        for sid, node in stations.items():
            if node == planner:
                await wait_for(lambda sid=sid: cps[sid]._connection.close_code is not None, 20)
                stations[sid] = alive[0]
                cps[sid] = await stack.enter_async_context(
                    managed(nodes[alive[0]], sid, held))
                await wait_for(lambda sid=sid: connected_everywhere(cluster, sid, alive,
                                                                      alive[0]), 30)
        # The next event re-plans the site on a surviving node: LM-2 stops, LM-1 gets it all.
        await cps["LM-2"].call(call.StopTransaction(transaction_id=tx["LM-2"], meter_stop=10,
                                                    timestamp=now()))
        held.limits.pop("LM-2", None)  # its TxProfile ended with the transaction
        await wait_for(lambda: held.holds({"LM-1": FUSE}), 30)
        new_planner = await wait_for(lambda: planner_of(cluster, site_id), 20)
        assert new_planner in alive
    assert held.violations == []


async def _put(cluster: Cluster, node: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    import aiohttp

    url = f"http://127.0.0.1:{cluster.nodes[node].port}{path}"
    async with aiohttp.ClientSession() as http, \
            http.put(url, json=body, headers=cluster.auth) as response:
        return response.status, await response.json()

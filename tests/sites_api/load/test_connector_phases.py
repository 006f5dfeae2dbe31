"""Connector phases set by the operator through the Sites API and used by the load manager.

Three single-phase outlets wired to L1, L2 and L3 under one 16 A fuse each get 16 A (each is
alone on its phase); the same outlets without phases would share 16 A on every phase.
"""

from __future__ import annotations

import contextlib
from typing import Any

import aiohttp
from ocpp.v16 import call, call_result

from hub.db.base import utcnow
from hub.db.models import IdTag
from tests.harness import RunningHub, connect_station, now, wait_for

STATIONS = ("PH-1", "PH-2", "PH-3")


def site_body(phases: list[Any] | None) -> dict[str, Any]:
    connectors = [{"connector_id": 1, "charging_station_id": station,
                   "phases": None if phases is None else phases[i]}
                  for i, station in enumerate(STATIONS)]
    return {"name": "Phases", "organization_id": "acme", "fuse_tree": [{
        "type": "fuse", "parameters": {"name": "Main", "limit": 16, "connectors": connectors},
        "children": []}]}


async def test_single_phase_outlets_on_different_phases_do_not_share(hub_factory: Any) -> None:
    running: RunningHub = await hub_factory(dev=True, load={"min_interval": 0})
    held: dict[str, tuple[float, int]] = {}

    def answer(station: str) -> Any:
        def on_profile(**kw: Any) -> Any:
            period = kw["cs_charging_profiles"]["charging_schedule"]["charging_schedule_period"][0]
            held[station] = (period["limit"], period.get("number_phases"))
            return call_result.SetChargingProfile(status="Accepted")
        return on_profile

    async with contextlib.AsyncExitStack() as stack, aiohttp.ClientSession(
            headers=running.auth) as http:
        stations = []
        for station in STATIONS:
            cp = await stack.enter_async_context(connect_station(running, station))
            await cp.boot()
            cp.answers["SetChargingProfile"] = answer(station)
            stations.append(cp)
        async with running.hub.sessions() as session, session.begin():
            session.add(IdTag(id_tag="TAG", created_at=utcnow()))
        base = running.http_url
        async with http.put(f"{base}/organisations/acme", json={"name": "Acme"}) as resp:
            assert resp.status == 200, await resp.text()
        async with http.post(f"{base}/sites", json=site_body([["L4"], None, None])) as resp:
            assert resp.status == 400
            error = await resp.json()
            assert "fuse_tree[0].parameters.connectors[0].phases" in str(error), error
        async with http.post(f"{base}/sites",
                             json=site_body([["L1"], ["L2"], ["L3"]])) as resp:
            assert resp.status == 201, await resp.text()
            site = await resp.json()
        shown = [c["phases"] for c in site["fuse_tree"][0]["parameters"]["connectors"]]
        assert shown == [["L1"], ["L2"], ["L3"]]

        for cp in stations:
            await cp.call(call.StartTransaction(connector_id=1, id_tag="TAG", meter_start=0,
                                                timestamp=now()))
        await wait_for(lambda: held == {s: (16.0, 1) for s in STATIONS}, timeout=15)

        # The operator rewires them all to three phases: now they share the 16 A.
        node = site["fuse_tree"][0]["id"]
        connectors = site_body(None)["fuse_tree"][0]["parameters"]["connectors"]
        async with http.patch(f"{base}/sites/{site['id']}/fuse-tree/nodes/{node}",
                              json={"parameters": {"connectors": connectors}}) as resp:
            assert resp.status == 200, await resp.text()
            tree = (await resp.json())["fuse_tree"]
            assert [c["phases"] for c in tree[0]["parameters"]["connectors"]] == [None] * 3

        def shared() -> bool:
            limits = sorted(limit for limit, _ in held.values())
            return limits == [0.0, 8.0, 8.0] and sum(limits) <= 16
        await wait_for(shared, timeout=15)
        assert {phases for limit, phases in held.values() if limit} == {3}

"""Site meter readings through the Sites API, and what the load manager makes of them.

A 32 A site with a consumer meter (a heat pump) beside one charging station: a 20 A reading
lowers the station's limit to 12 A; once the reading is older than ``meter_max_age`` the
meter's ``fallback_value`` (10 A) is planned instead and the station rises to 22 A.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from ocpp.v16 import call, call_result

from hub.auth import create_token
from hub.db.base import utcnow
from hub.db.models import IdTag, Station
from sites_api.writes import ensure_organisation
from tests.harness import RunningHub, connect_station, now, wait_for
from tests.sites_api.conftest import Api

HEAT_PUMP = {"is_consumer": True, "consumer_name": "heat pump", "max_possible_current": 32,
             "fallback_value": 10}


def site_body(station: str) -> dict[str, Any]:
    return {"name": "Metered", "organization_id": "acme", "fuse_tree": [{
        "type": "fuse", "parameters": {"name": "Main", "limit": 32, "connectors": [
            {"connector_id": 1, "charging_station_id": station}]},
        "children": [{"type": "meter", "parameters": {"name": "Heat pump",
                                                      "meter": HEAT_PUMP}, "children": []}]}]}


async def token_for(running: RunningHub, http: aiohttp.ClientSession, org: str) -> Api:
    async with running.hub.engine.begin() as conn:
        await ensure_organisation(conn, org, None)
    token = await create_token(running.hub.sessions, f"{org} writer", ["sites:write"], org)
    return Api(http, running.http_url, token)


async def metrics(http: aiohttp.ClientSession, running: RunningHub) -> str:
    async with http.get(running.http_url + "/metrics", headers=running.auth) as resp:
        assert resp.status == 200
        return await resp.text()


@contextlib.asynccontextmanager
async def station_taking_profiles(running: RunningHub, station_id: str
                                  ) -> AsyncIterator[tuple[Any, list[float]]]:
    """A booted 1.6 station that accepts every charging profile, with the limits it was sent
    (in order), and an id tag ``TAG`` it can start with."""
    limits: list[float] = []

    def on_profile(**kw: Any) -> Any:
        limits.append(kw["cs_charging_profiles"]["charging_schedule"][
            "charging_schedule_period"][0]["limit"])
        return call_result.SetChargingProfile(status="Accepted")

    async with connect_station(running, station_id) as cp:
        await cp.boot()
        cp.answers["SetChargingProfile"] = on_profile
        async with running.hub.sessions() as session, session.begin():
            session.add(IdTag(id_tag="TAG", created_at=utcnow()))
        yield cp, limits


async def test_a_meter_reading_is_planned_until_it_goes_stale(hub_factory: Any) -> None:
    running: RunningHub = await hub_factory(dev=True, load={
        "min_interval": 0, "replan_interval": 0, "meter_max_age": 3})
    async with contextlib.AsyncExitStack() as stack, aiohttp.ClientSession() as http:
        cp, limits = await stack.enter_async_context(station_taking_profiles(running, "MT-1"))
        acme = await token_for(running, http, "acme")
        other = await token_for(running, http, "other")
        admin = Api(http, running.http_url, running.admin_token)
        async with running.hub.sessions() as session, session.begin():
            (await session.get(Station, "MT-1")).organisation_key = "acme"
        status, site, _ = await acme.post("/sites", site_body("MT-1"))
        assert status == 201, site
        root = site["fuse_tree"][0]
        meter_path = (f"/sites/{site['id']}/fuse-tree/nodes/{root['children'][0]['id']}"
                      "/meter-reading")
        root_path = f"/sites/{site['id']}/fuse-tree/nodes/{root['id']}/meter-reading"

        # Nothing measured yet: the fallback (10 A) leaves 22 A.
        await cp.call(call.StartTransaction(connector_id=1, id_tag="TAG", meter_start=0,
                                            timestamp=now()))
        await wait_for(lambda: limits[-1:] == [22.0], timeout=15)

        # The edge: credentials, organisation, body, a node without a meter.
        async with http.put(running.http_url + meter_path, json={"value": 20}) as resp:
            assert resp.status == 401
        assert (await other.put(meter_path, {"value": 20}))[0] == 404
        for body, field in (({"value": "20"}, "value"), ({}, "value"),
                            ({"value": [1, 2]}, "value"), ({"value": 1, "at": 2}, "at"),
                            ([20], "body")):
            status, error, _ = await acme.put(meter_path, body)
            assert status == 400 and error["field"] == field, (body, error)
        status, error, _ = await acme.put(root_path, {"value": 20})
        assert status == 409 and error["error"] == "no_meter", error

        # A 20 A reading: the station gets the 12 A left.
        status, reading, _ = await acme.put(meter_path, {"value": 20})
        assert status == 200 and reading["value"] == 20 and reading["source"] == "api", reading
        await wait_for(lambda: limits[-1:] == [12.0], timeout=15)
        status, view, _ = await admin.get(f"/sites/{site['id']}/load")
        meter_view = next(n for n in view["nodes"] if n["meter"] is not None)["meter"]
        assert meter_view["value"] == 20 and meter_view["stale"] is False
        meter_node = root["children"][0]["id"]
        figures = await metrics(http, running)
        assert f'pnc_hub_load_meter_fallback{{site="{site["id"]}",node="{meter_node}"}} 0' \
            in figures
        assert (f'pnc_hub_load_connector_limit_amps{{site="{site["id"]}",station="MT-1",'
                f'connector="1",state="charging"}} 12.0') in figures
        assert f'pnc_hub_load_node_headroom_amps{{site="{site["id"]}",node="{root["id"]}"}} 0.0' \
            in figures

        # No news for meter_max_age (3 s): the fallback applies again.
        await wait_for(lambda: limits[-1:] == [22.0], timeout=20)
        status, view, _ = await admin.get(f"/sites/{site['id']}/load")
        assert next(n for n in view["nodes"] if n["meter"] is not None)["meter"]["stale"]
        assert f'pnc_hub_load_meter_fallback{{site="{site["id"]}",node="{meter_node}"}} 1' \
            in await metrics(http, running)
        assert limits == [22.0, 12.0, 22.0]

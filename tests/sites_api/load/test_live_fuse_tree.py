"""The load manager's live values in the Sites API's fuse tree.

Each node's ``parameters.live`` and each tree connector's ``live`` carry the figures
``GET /sites/{id}/load`` shows (one source, ``sites_api.load.live``); they are null while the
manager holds no plan of the site. They are not stored: a meter reading changes them, not the
site's version, so the ETag stays and an ``If-Match`` edit based on it still goes through.
"""

from __future__ import annotations

import contextlib
from typing import Any

import aiohttp
import jsonschema
from ocpp.v16 import call

from hub.console.users import add_user
from tests.harness import RunningHub, now, wait_for
from tests.hub.console.conftest import PASSWORD, browser, login
from tests.sites_api.conftest import Api
from tests.sites_api.load.test_meter_inputs import site_body, station_taking_profiles


def _nodes(tree: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found, stack = [], list(tree)
    while stack:
        node = stack.pop()
        found.append(node)
        stack.extend(node["children"])
    return found


def _without_age(live: dict[str, Any]) -> dict[str, Any]:
    """A node's live values less the meter's age (it grows between two requests)."""
    meter = live["meter"] and {k: v for k, v in live["meter"].items() if k != "age_seconds"}
    return {**live, "meter": meter}


def _same_figures(site: dict[str, Any], view: dict[str, Any]) -> bool:
    """The tree's live values are the load view's, node by node and connector by connector."""
    by_node = {n["id"]: n for n in view["nodes"]}
    by_connector = {(c["station_id"], c["connector_id"]): c for c in view["connectors"]}
    for node in _nodes(site["fuse_tree"]):
        shown = by_node[node["id"]]
        expected = {k: shown[k] for k in ("planned", "measured", "meter")}
        if _without_age(node["parameters"]["live"]) != _without_age(expected):
            return False
        for connector in node["parameters"]["connectors"]:
            key = (connector["charging_station_id"], int(connector["connector_id"]))
            listed = {k: v for k, v in by_connector[key].items()
                      if k not in ("station_id", "connector_id")}
            if connector["live"] != listed:
                return False
    return True


async def tree_and_view_agree(admin: Api, base: str) -> dict[str, Any] | None:
    """A tree read and a load-view read right after it that show the same figures (the manager
    may re-plan between two reads: a car's settled demand moves on its own time)."""
    _, site, _ = await admin.get(base)
    _, view, _ = await admin.get(f"{base}/load")
    return site if _same_figures(site, view) else None


async def console_shows(running: RunningHub, figures: list[str]) -> None:
    """The console's sites page draws the same live figures on the fuse tree."""
    await add_user(running.hub.sessions, "alice", PASSWORD, "admin")
    async with browser() as http:
        assert (await login(http, running, "alice")).status == 303
        async with http.get(running.http_url + "/console/op_sites") as page:
            text = " ".join((await page.text()).split())
    for figure in figures:
        assert figure in text, figure


async def test_live_values_in_the_fuse_tree_leave_the_etag(hub_factory: Any) -> None:
    running: RunningHub = await hub_factory(dev=True, load={
        "min_interval": 0, "replan_interval": 0, "meter_max_age": 600})
    async with contextlib.AsyncExitStack() as stack, aiohttp.ClientSession() as http:
        cp, limits = await stack.enter_async_context(station_taking_profiles(running, "LV-1"))
        admin = Api(http, running.http_url, running.admin_token)
        assert (await admin.put("/organisations/acme", {"name": "Acme"}))[0] == 200
        status, site, _ = await admin.post("/sites", site_body("LV-1"))
        assert status == 201, site
        base = f"/sites/{site['id']}"
        root = site["fuse_tree"][0]
        meter_node = root["children"][0]["id"]

        # A tree edit makes the manager read the tree again: its answer has no plan to show.
        status, edited, _ = await admin.patch(f"{base}/fuse-tree/nodes/{root['id']}",
                                              {"parameters": {"name": "Main fuse"}})
        assert status == 200
        assert all(n["parameters"]["live"] is None for n in _nodes(edited["fuse_tree"]))
        assert edited["fuse_tree"][0]["parameters"]["connectors"][0]["live"] is None

        started = await cp.call(call.StartTransaction(connector_id=1, id_tag="TAG",
                                                      meter_start=0, timestamp=now()))
        await wait_for(lambda: limits[-1:] == [22.0], timeout=15)  # 32 - the 10 A fallback
        await cp.call(call.MeterValues(connector_id=1, transaction_id=started.transaction_id,
                                       meter_value=[{"timestamp": now(), "sampled_value": [
                                           {"value": "7.5", "measurand": "Current.Import",
                                            "phase": p, "unit": "A"}
                                           for p in ("L1", "L2", "L3")]}]))

        async def tree_shows(planned: float, measured: float | None) -> bool:
            _, body, _ = await admin.get(base)
            live = body["fuse_tree"][0]["parameters"]["live"]
            return live is not None and live["planned"] == [planned] * 3 and \
                live["measured"] == [measured] * 3

        await wait_for(lambda: tree_shows(32.0, 7.5), timeout=15)
        status, before, headers = await admin.get(base)
        etag = headers["ETag"]
        connector_live = before["fuse_tree"][0]["parameters"]["connectors"][0]["live"]
        assert connector_live["limit_sent"] == 22.0 and connector_live["acknowledged"] is True
        assert connector_live["measured"] == [7.5, 7.5, 7.5]
        await wait_for(lambda: tree_and_view_agree(admin, base))

        # A 20 A reading of the heat pump: the live values move, the version does not.
        status, _, _ = await admin.put(f"{base}/fuse-tree/nodes/{meter_node}/meter-reading",
                                       {"value": 20})
        assert status == 200
        await wait_for(lambda: limits[-1:] == [12.0], timeout=15)
        await wait_for(lambda: tree_shows(32.0, 7.5), timeout=15)
        status, after, headers = await admin.get(base)
        assert headers["ETag"] == etag and after["version"] == before["version"]
        meter_live = next(n for n in _nodes(after["fuse_tree"])
                          if n["id"] == meter_node)["parameters"]["live"]["meter"]
        assert meter_live["value"] == 20 and meter_live["stale"] is False
        assert meter_live["source"] == "api" and meter_live["age_seconds"] >= 0
        assert after["fuse_tree"][0]["parameters"]["connectors"][0]["live"]["limit_sent"] == 12
        await wait_for(lambda: tree_and_view_agree(admin, base))
        await console_shows(running, ["planned 32/32/32 A · measured 7.5/7.5/7.5 A",
                                      "limit sent 12 A, acknowledged"])

        _, document, _ = await admin.get("/api/openapi.json")
        jsonschema.Draft202012Validator({"$ref": "#/components/schemas/Site",
                                         "components": document["components"]}).validate(after)
        _, listed, _ = await admin.get("/sites")
        assert listed["data"][0]["fuse_tree"][0]["parameters"]["live"] is not None

        # The ETag read before the reading still admits an edit; the tree echoes back as is.
        status, _, headers = await admin.put(f"{base}/fuse-tree", after["fuse_tree"],
                                             headers={"If-Match": etag})
        assert status == 200 and headers["ETag"] != etag
        status, _, _ = await admin.patch(base, {"name": "stale"}, headers={"If-Match": etag})
        assert status == 412

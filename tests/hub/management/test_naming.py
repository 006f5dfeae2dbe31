"""Naming: /api/id-tags is the id tags' canonical path (/tokens stays, same data); the seed's
acting GET routes have POST twins and are documented as acting; the anonymous health check
says only that the hub is alive."""

from __future__ import annotations

from hub.management.route_policy import ACTING_GETS
from tests.harness import RunningHub, TestStation, wait_for
from tests.hub.management.conftest import STATION, Api


async def test_id_tags_under_both_names(api: Api) -> None:
    await api.ok("PUT", "/api/id-tags", json={"uid": "CANONICAL"})
    await api.ok("PUT", "/tokens", json={"uid": "SEED"})
    for path in ("/api/id-tags", "/tokens"):
        body = await api.ok("GET", path)
        assert {"CANONICAL", "SEED"} <= {t["uid"] for t in body["tokens"]}
    paths = api.document["paths"]
    assert set(paths["/api/id-tags"]) == set(paths["/tokens"]) == {"get", "put"}


async def test_acting_gets_have_post_forms(hub: RunningHub, api: Api,
                                           station: TestStation) -> None:
    paths = api.document["paths"]
    for route in ACTING_GETS:
        assert "post" in paths[route], route
        assert "Acts on the station although it is a GET" in paths[route]["get"]["description"]
    # Parameters from a JSON body ...
    reply = await api.post(f"/rebootChargePoint/{STATION}", json={"type": "Hard"},
                           headers={"Accept": "application/json"})
    assert reply.status == 200 and reply.body["type"] == "Hard", reply.body
    assert station.received[-1].action == "Reset"
    assert station.received[-1].payload == {"type": "Hard"}
    # ... or from the query string, as the GET form takes them.
    reply = await api.call("POST", f"/getDiagnostics/{STATION}",
                           params={"location": "ftp://d/"})
    assert reply.status == 200, reply.body
    assert station.received[-1].payload == {"location": "ftp://d/"}
    bad = await api.error("POST", f"/rebootChargePoint/{STATION}", 400, json={"type": "Warm"})
    assert bad["field"] == "type"
    reply = await api.post(f"/disconnectChargePoint/{STATION}")
    assert reply.status == 200
    await wait_for(lambda: STATION not in hub.hub.stations)


async def test_anonymous_health_says_only_alive(hub: RunningHub, api: Api,
                                                station: TestStation) -> None:
    for path in ("/", "/healthCheck-01"):
        anonymous = await api.get(path, auth=False)
        assert anonymous.status == 200 and anonymous.body == {"status": "ok"}
        known = await api.get(path)
        assert known.body == {"status": "ok", "connected_stations": 1}
    # A wrong token is treated as none (the health check never answers 401).
    wrong = await api.get("/", auth=False, headers={"Authorization": "Bearer pnch_nope"})
    assert wrong.body == {"status": "ok"}


async def test_health_details_by_setting(hub_factory: object) -> None:
    import aiohttp

    running = await hub_factory(server={"health_details": True})  # type: ignore[operator]
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{running.http_url}/") as resp:
            assert await resp.json() == {"status": "ok", "connected_stations": 0}

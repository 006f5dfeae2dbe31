"""Monitoring rows of the "OCPP Server" table and the Broker's operational endpoints, against a
real connected station (and the real pool, queues and counters behind them)."""

from __future__ import annotations

import time
from typing import Any

from ocpp.v16 import call

from tests.harness import RunningHub, TestStation, connect_station, now, wait_for
from tests.hub.management.conftest import STATION, Api


async def test_db_pool_status_reports_the_engines_pool(hub: RunningHub, api: Api,
                                                       station: TestStation) -> None:
    body = await api.ok("GET", "/api/db_pool_status")
    engine = hub.hub.engine
    assert body["backend"] == engine.url.get_backend_name()
    assert body["pool_type"] == type(engine.pool).__name__
    assert body["pool_size"] == engine.pool.size() == body["mysql_pool_size"]
    assert body["checked_out"] >= 0 and "Pool size" in body["status"]
    assert body["group_commit"]["batches"] >= 1  # the boot was group-committed


async def test_log_queue_metrics(hub: RunningHub, api: Api, station: TestStation) -> None:
    await wait_for(lambda: hub.hub.message_log.written >= 2)
    body = await api.ok("GET", "/api/ocpp_log_queue_metrics", params={"window_minutes": "5"})
    assert body["maxsize"] == 5000 and body["size"] >= 0
    assert body["written"] >= 2 and body["window_minutes"] == 5
    assert body["flushes"] >= 1


async def test_websocket_counts_and_system_limits(api: Api, station: TestStation) -> None:
    body = await api.ok("GET", "/api/websocketCounts")
    assert body["connections"]["active"] == 1
    assert body["connections"]["by_ocpp_version"] == {"1.6": 1}
    assert body["file_descriptors"]["open"] > 0
    body = await api.ok("GET", "/websocketCounts")
    assert body["wallbox_to_broker"] == 1 and body["total"] == 1
    body = await api.ok("GET", "/system/limits")
    assert body["ulimit_no_file_soft"] > 0 and body["open_file_descriptors"] > 0
    assert body["websocket_connections"] == 1


async def test_action_metrics_count_both_directions(api: Api, station: TestStation) -> None:
    await api.ok("POST", "/api/reset", json={"station_id": STATION})
    body = await api.ok("GET", "/api/ocpp_action_metrics")
    assert body["BootNotification"]["success"] == 1 and body["BootNotification"]["errors"] == 0
    assert body["BootNotification"]["latency_ms"]["p50"] is not None
    assert body["Reset"]["count"] == 1 and "out" in body["Reset"]["directions"]
    body = await api.ok("GET", "/api/ocpp_action_metrics", params={"direction": "out"})
    assert set(body) == {"Reset"}


async def test_station_liveness_flags_silent_stations(hub: RunningHub, api: Api,
                                                      station: TestStation) -> None:
    async with connect_station(hub, "CP-2"):
        await wait_for(lambda: "CP-2" in hub.hub.stations)
        hub.hub.stations.get("CP-2").last_seen = time.time() - 1000
        body = await api.ok("GET", "/api/station_liveness", params={"threshold": "60"})
        assert [s["station_id"] for s in body["stations"]] == ["CP-2", STATION]
        assert [s["stale"] for s in body["stations"]] == [True, False]
        assert body["stale"] == 1 and body["threshold_seconds"] == 60
        body = await api.ok("GET", "/api/station_liveness", params={"sort": "station_id"})
        assert [s["station_id"] for s in body["stations"]] == [STATION, "CP-2"]


async def test_connected_station_views(api: Api, station: TestStation) -> None:
    await station.call(call.StatusNotification(connector_id=1, error_code="NoError",
                                               status="Available"))
    body = await api.ok("GET", "/api/connected_stations")
    assert body["count"] == 1
    assert body["stations"][0]["station_id"] == STATION
    assert body["stations"][0]["ocpp_version"] == "1.6"
    for route, key in (("/api/connectedStations", "stations"),
                       ("/getConnectedDevices", "connected")):
        body = await api.ok("GET", route)
        (view,) = body[key]
        assert view["station_id"] == STATION and view["vendor"] == "ACME"
        assert view["availability"] == "Operative"
        assert view["connectors"][0]["connector_id"] == 1
        assert view["connectors"][0]["status"] == "Available"
    body = await api.ok("GET", "/connectionStats")
    assert body["stations"][STATION]["messages_in"] >= 2
    assert body["count"] == 1


async def test_open_transactions_and_active_sessions(api: Api, station: TestStation) -> None:
    started = await station.call(call.StartTransaction(connector_id=1, id_tag="TAG-1",
                                                       meter_start=10, timestamp=now()))
    body = await api.ok("GET", "/api/getAllCurrentTransactions")
    assert body["transactions"] == [started.transaction_id]
    assert body["by_station"] == {STATION: [started.transaction_id]}
    body = await api.ok("GET", "/activeSessions")
    (session,) = body["sessions"]
    assert session["transaction_id"] == started.transaction_id
    assert session["id_tag"] == "TAG-1" and session["status"] == "active"
    await station.call(call.StopTransaction(meter_stop=20, timestamp=now(),
                                            transaction_id=started.transaction_id))
    assert (await api.ok("GET", "/api/getAllCurrentTransactions"))["transactions"] == []


async def test_broker_status(hub: RunningHub, api: Api) -> None:
    body = await api.ok("GET", "/brokerStatus")
    assert body["status"] == "online" and body["database"]["ok"] is True
    assert body["database"]["backend"] == hub.hub.engine.url.get_backend_name()


async def test_reconnect_stats_count_reconnects(hub: RunningHub, api: Api) -> None:
    for _ in range(2):
        async with connect_station(hub, "CP-R"):
            await wait_for(lambda: "CP-R" in hub.hub.stations)
        await wait_for(lambda: "CP-R" not in hub.hub.stations)

    async def settled() -> Any:
        # The disconnect event follows the disconnect's commit, after the registry update.
        body = await api.ok("GET", "/api/reconnectStats", params={"window": "600"})
        return body if body["disconnects"] == 2 else None

    body = await wait_for(settled)
    assert body["window_seconds"] == 600
    assert body["connects"] == 2 and body["disconnects"] == 2 and body["reconnects"] == 1
    assert body["stations"] == [{"station_id": "CP-R", "connects": 2, "disconnects": 2,
                                 "reconnects": 1}]


async def test_wallbox_summaries(api: Api, station: TestStation) -> None:
    await api.ok("POST", "/WallboxManagement/AddWallbox", json={"station_id": "CP-OFF"},
                 status=201)
    body = await api.ok("GET", "/connectedWallboxes")
    assert (body["entries"], body["connected"], body["disconnected"]) == (2, 1, 1)
    body = await api.ok("GET", "/getConnecteEVSE")
    assert [(c["station_id"], c["quality"]) for c in body["connected"]] == [(STATION, "good")]
    assert [d["station_id"] for d in body["disconnected"]] == ["CP-OFF"]


async def test_get_style_station_calls(hub: RunningHub, api: Api, station: TestStation) -> None:
    reply = await api.get(f"/rebootChargePoint/{STATION}", params={"type": "Hard"})
    assert (reply.status, reply.body) == (200, "Reset-Aufruf gestartet: Accepted")
    assert station.received[-1].payload == {"type": "Hard"}
    reply = await api.get(f"/getDiagnostics/{STATION}", params={"location": "ftp://d/"})
    assert (reply.status, reply.body) == (200, "GetDiagnostics-Aufruf gestartet: queued")
    assert station.received[-1].payload == {"location": "ftp://d/"}
    body = await api.ok("GET", f"/getDiagnostics/{STATION}", "/getDiagnostics/{station_id}",
                        params={"location": "ftp://d/"}, headers={"Accept": "application/json"})
    assert body["fileName"] == "diag.zip"
    reply = await api.get(f"/disconnectChargePoint/{STATION}")
    assert (reply.status, reply.body) == (200, "Chargepoint getrennt")
    await wait_for(lambda: STATION not in hub.hub.stations)


async def test_health_docs_and_redirect(api: Api) -> None:
    for path in ("/healthCheck-01", "/"):
        reply = await api.get(path, auth=False)
        assert reply.status == 200 and reply.body["status"] == "ok"
    reply = await api.get("/robots.txt", auth=False)
    assert reply.body == "User-agent: *\nDisallow: /\n"
    reply = await api.get("/op_api_docs")
    assert reply.status == 302 and reply.headers["Location"] == "/api/docs"
    assert (await api.get("/op_api_docs", auth=False)).status == 401
    reply = await api.get("/api/docs")  # the bearer token opens the reference page too
    assert reply.status == 200 and "id='swagger-ui'" in reply.body
    document = await api.ok("GET", "/api/openapi.json")
    assert document["openapi"] == "3.1.0"
    assert {"/api/getConfiguration", "/WallboxManagement/AddWallbox"} <= set(document["paths"])

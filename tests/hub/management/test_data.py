"""The REST API's data endpoints on real rows: devices, meter values, tokens, sessions, charge
records, and the WallboxManagement station routes (passwords checked by a real handshake)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
import websockets
from ocpp.v16 import call

from hub.db.base import utcnow
from hub.db.models import Station
from tests.harness import RunningHub, TestStation, connect_station, now
from tests.hub.management.conftest import STATION, Api

PASSWORD = "a-long-station-password"


async def test_connected_and_disconnected_devices(hub: RunningHub, api: Api,
                                                  station: TestStation) -> None:
    async with hub.hub.sessions() as session, session.begin():
        session.add_all([
            Station(id="CP-OLD", ocpp_version="1.6", last_seen_at=utcnow() - timedelta(hours=2)),
            Station(id="CP-RECENT", ocpp_version="1.6",
                    last_seen_at=utcnow() - timedelta(minutes=5))])
    body = await api.ok("GET", "/api/connected", params={"owner": "ocpp16"})
    assert [(d["device"], d["connected"]) for d in body["devices"]] == [
        (STATION, True), ("CP-RECENT", False)]
    assert body["devices"][0]["owner"] == "ocpp16"
    assert (await api.ok("GET", "/api/connected", params={"owner": "ocpp201"}))["count"] == 0
    body = await api.ok("GET", "/api/connected", params={"minutes": "180"})
    assert body["count"] == 3
    body = await api.ok("GET", "/api/disconnected")
    assert [d["device"] for d in body["devices"]] == ["CP-OLD", "CP-RECENT"]


async def test_meter_latest_and_recent(api: Api, station: TestStation) -> None:
    await api.error("GET", "/api/meter/NOPE", 404, "unknown_station")
    for wh in ("1000", "1500"):
        await station.call(call.MeterValues(connector_id=1, meter_value=[{
            "timestamp": now(), "sampled_value": [
                {"value": wh, "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                {"value": "230.1", "measurand": "Voltage", "phase": "L1", "unit": "V"}]}]))
    body = await api.ok("GET", f"/api/meter/{STATION}", "/api/meter/{device}")
    latest = {(s["measurand"], s["phase"]): s["value"] for s in body["latest"]}
    assert latest == {("Energy.Active.Import.Register", None): "1500", ("Voltage", "L1"): "230.1"}
    assert len(body["recent"]) == 4
    assert body["recent"][0]["timestamp"] >= body["recent"][-1]["timestamp"]
    body = await api.ok("GET", f"/api/meter/{STATION}", "/api/meter/{device}",
                        params={"limit": "1", "connector_id": "1"})
    assert len(body["recent"]) == 1
    body = await api.ok("GET", f"/api/meter/{STATION}", "/api/meter/{device}",
                        params={"connector_id": "2"})
    assert body["latest"] == [] and body["recent"] == []


async def test_tokens_put_and_paginate(api: Api) -> None:
    body = await api.ok("PUT", "/tokens", json=[{"uid": f"TAG-{i}"} for i in range(5)])
    assert (body["created"], body["updated"]) == (5, 0)
    body = await api.ok("PUT", "/tokens", json={"uid": "TAG-3", "valid": False,
                                                "expiry_date": "2099-01-01T00:00:00Z",
                                                "parent_id_tag": "GROUP"})
    assert (body["created"], body["updated"]) == (0, 1)
    (tag,) = body["tokens"]
    assert tag["blocked"] is True and tag["valid"] is False and tag["parent_id_tag"] == "GROUP"
    assert tag["expiry_date"] == "2099-01-01T00:00:00.000Z"
    body = await api.ok("PUT", "/tokens", json={"uid": "OLD",
                                                "expiry_date": "0088-03-20T18:25:05Z"})
    assert body["tokens"][0]["expiry_date"] == "0088-03-20T18:25:05.000Z"  # zero-padded year
    assert body["tokens"][0]["status"] == "Expired"

    seen, cursor = [], None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = await api.ok("GET", "/tokens", params=params)
        assert page["total"] == 6 and len(page["tokens"]) <= 2
        seen += [t["uid"] for t in page["tokens"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["OLD", *(f"TAG-{i}" for i in range(5))]
    page = await api.ok("GET", "/tokens", params={"offset": "5", "limit": "10"})
    assert [t["uid"] for t in page["tokens"]] == ["TAG-4"] and page["next_cursor"] is None

    body = await api.ok("PUT", "/tokens", json={"tokens": [{"uid": "TAG-0", "blocked": False},
                                                           {"uid": "NEW", "blocked": True}]})
    assert (body["created"], body["updated"]) == (1, 1)
    assert [t["blocked"] for t in body["tokens"]] == [False, True]  # found by the fuzz run
    err = await api.error("PUT", "/tokens", 400, json=[{"uid": "A"}, {"uid": "B",
                                                                      "expiry_date": "soon"}])
    assert err["field"] == "tokens[1].expiry_date"
    err = await api.error("PUT", "/tokens", 400, json={"uid": "X" * 37})
    assert err["field"] == "tokens.uid"
    assert (await api.ok("GET", "/tokens"))["total"] == 7  # nothing of the bad batch written


async def test_sessions_list_filter_and_paginate(hub: RunningHub, api: Api,
                                                 station: TestStation) -> None:
    ids = []
    for connector in (1, 2, 1):
        started = await station.call(call.StartTransaction(
            connector_id=connector, id_tag="TAG-1", meter_start=0, timestamp=now()))
        ids.append(started.transaction_id)
    async with connect_station(hub, "CP-2") as other:
        await other.call(call.StartTransaction(connector_id=1, id_tag="TAG-9", meter_start=0,
                                               timestamp=now()))
    body = await api.ok("GET", "/sessions", params={"stationId": STATION, "limit": "2"})
    assert [s["id"] for s in body["sessions"]] == ids[::-1][:2] and body["total"] == 3
    body = await api.ok("GET", "/sessions", params={"stationId": STATION,
                                                    "cursor": body["next_cursor"]})
    assert [s["id"] for s in body["sessions"]] == [ids[0]] and body["next_cursor"] is None
    assert (await api.ok("GET", "/sessions"))["total"] == 4
    assert (await api.ok("GET", "/sessions", params={"status": "completed"}))["total"] == 0


async def test_sessions_create_and_stop(api: Api, station: TestStation) -> None:
    body = await api.ok("POST", "/sessions", json={
        "station_id": STATION, "connector_id": 1, "id_tag": "TAG-1", "meter_start": 100,
        "start_timestamp": "2024-05-01T10:00:00Z"})
    (created,) = body["sessions"]
    assert body["created"] == 1 and created["status"] == "active"
    assert created["start_timestamp"] == "2024-05-01T10:00:00.000Z"
    body = await api.ok("PUT", "/sessions", json={
        "id": created["id"], "meter_stop": 2100, "stop_timestamp": "2024-05-01T11:00:00Z",
        "stop_reason": "Local"})
    (stopped,) = body["sessions"]
    assert body["updated"] == 1
    assert (stopped["status"], stopped["energy_wh"], stopped["stop_reason"]) == (
        "completed", 2000, "Local")
    body = await api.ok("PUT", "/sessions", json={"sessions": [
        {"id": created["id"], "status": "completed"}]})
    assert body["unchanged"] == 1
    await api.error("POST", "/sessions", 404, "unknown_station",
                    json={"station_id": "NOPE", "connector_id": 1})
    await api.error("PUT", "/sessions", 404, "unknown_session", json={"id": 99999,
                                                                      "meter_stop": 1})
    err = await api.error("PUT", "/sessions", 400, json={"id": created["id"]})
    assert err["field"] == "sessions.status"


async def test_getsession_and_charge_records(api: Api, station: TestStation) -> None:
    started = await station.call(call.StartTransaction(connector_id=1, id_tag="RFID-7",
                                                       meter_start=0, timestamp=now()))
    tx = started.transaction_id
    await station.call(call.MeterValues(connector_id=1, transaction_id=tx, meter_value=[{
        "timestamp": now(), "sampled_value": [{"value": "42"}]}]))
    body = await api.ok("GET", "/api/getsession", params={"transaction_id": str(tx)})
    assert body["session"]["id"] == tx and body["session"]["id_tag"] == "RFID-7"
    assert [m["value"] for m in body["meter_values"]] == ["42"]
    body = await api.ok("GET", "/api/getsession", params={"station_id": STATION})
    assert body["session"]["id"] == tx
    await station.call(call.StopTransaction(meter_stop=500, timestamp=now(), transaction_id=tx))
    await api.error("GET", "/api/getsession", 404, "unknown_session",
                    params={"station_id": STATION})
    body = await api.ok("GET", "/Charge/GetChargeRecordsByRfId", params={"rfId": "RFID-7"})
    assert body["rfId"] == "RFID-7" and body["total"] == 1
    (record,) = body["records"]
    assert (record["id"], record["energy_wh"], record["status"]) == (tx, 500, "completed")
    body = await api.ok("GET", "/Charge/GetChargeRecordsByRfId", params={"rfId": "OTHER"})
    assert body["records"] == []
    err = await api.error("GET", "/Charge/GetChargeRecordsByRfId", 400)
    assert err["field"] == "rfId"


async def test_stored_charge_point_configuration(api: Api, station: TestStation) -> None:
    route = "/WallboxManagement/getChargePointConfiguration"
    assert (await api.ok("GET", route, params={"station_id": STATION}))["configuration"] == []
    await api.ok("GET", "/api/getConfiguration", params={"station_id": STATION})
    await api.ok("POST", "/api/setConfiguration", json={"station_id": STATION,
                                                        "key": "HeartbeatInterval", "value": 60})
    body = await api.ok("GET", route, params={"station_id": STATION})
    stored = {c["key"]: (c["value"], c["readonly"]) for c in body["configuration"]}
    assert stored == {"HeartbeatInterval": ("60", False), "NumberOfConnectors": ("2", True)}
    await api.error("GET", route, 404, "unknown_station", params={"station_id": "NOPE"})


async def test_wallbox_create_list_update(hub: RunningHub, api: Api) -> None:
    body = await api.ok("POST", "/WallboxManagement/AddWallbox", status=201,
                        json={"station_id": "CP-PW", "password": PASSWORD})
    assert body["station"]["has_password"] is True
    assert body["station"]["registration_status"] == "Accepted"
    await api.error("POST", "/WallboxManagement/AddWallbox", 409, "station_exists",
                    json={"station_id": "CP-PW"})
    err = await api.error("POST", "/WallboxManagement/AddWallbox", 400,
                          json={"station_id": "CP-X", "password": "short"})
    assert err["field"] == "password"
    err = await api.error("POST", "/WallboxManagement/AddWallbox", 400,
                          json={"station_id": "bad id"})
    assert err["field"] == "station_id"

    # The password is the one the station's handshake is checked against.
    with pytest.raises(websockets.InvalidStatus):
        async with connect_station(hub, "CP-PW", password="wrong-password-123"):
            pass
    async with connect_station(hub, "CP-PW", password=PASSWORD):
        body = await api.ok("GET", "/WallboxManagement/GetAllWallboxes")
        assert [(w["station_id"], w["connected"]) for w in body["wallboxes"]] == [
            ("CP-PW", True)]

    body = await api.ok("PATCH", "/WallboxManagement/UpdateWallbox",
                        json={"station_id": "CP-PW", "password": None,
                              "registration_status": "Pending"})
    assert body["station"]["has_password"] is False
    assert body["station"]["registration_status"] == "Pending"
    async with hub.hub.sessions() as session:
        row = (await session.execute(sa.select(Station).where(Station.id == "CP-PW"))).scalar()
        assert row.password_hash is None and row.registration_status == "Pending"
    await api.error("PATCH", "/WallboxManagement/UpdateWallbox", 404, "unknown_station",
                    json={"station_id": "NOPE", "registration_status": "Accepted"})
    err = await api.error("PATCH", "/WallboxManagement/UpdateWallbox", 400,
                          json={"station_id": "CP-PW"})
    assert err["field"] == "body"
    body = await api.ok("GET", "/WallboxManagement/GetAllWallboxes",
                        params={"limit": "1", "offset": "1"})
    assert body["wallboxes"] == [] and body["total"] == 1

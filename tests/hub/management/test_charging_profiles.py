"""Smart charging routes against real `ocpp` 1.6 and 2.0.1 stations: what goes on the wire,
what the hub records as held, and what it refuses before sending anything."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from ocpp.v16 import call, call_result
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as call_result201

from hub.db.models import Transaction
from tests.harness import RunningHub, TestStation, connect_station201, now, wait_for
from tests.hub.management.conftest import STATION, Api

ONE = {"station_id": STATION}
PROFILES = "/api/chargingProfiles"


def profile(**overrides: Any) -> dict[str, Any]:
    return {"stack_level": 1, "purpose": "TxDefaultProfile", "kind": "Relative",
            "charging_schedule": {"charging_rate_unit": "A",
        "charging_schedule_period": [{"start_period": 0, "limit": 16, "number_phases": 3},
                                     {"start_period": 3600, "limit": 10}]},
        **overrides}


def sent(cp: Any, action: str) -> list[dict[str, Any]]:
    return [r.payload for r in cp.received if r.action == action]


async def held(api: Api, station_id: str = STATION) -> list[dict[str, Any]]:
    body = await api.ok("GET", PROFILES, params={"station_id": station_id})
    return body["profiles"]


async def test_set_list_replace_and_clear_on_a_1_6_station(api: Api,
                                                          station: TestStation) -> None:
    body = await api.ok("POST", PROFILES, json={**ONE, "connector_id": 1,
                                                "charging_profile": profile(id=7)})
    assert body["status"] == "Accepted"
    wire = sent(station, "SetChargingProfile")[-1]
    assert wire["connector_id"] == 1
    assert wire["cs_charging_profiles"] == {
        "charging_profile_id": 7, "stack_level": 1, "charging_profile_purpose": "TxDefaultProfile",
        "charging_profile_kind": "Relative",
        "charging_schedule": {"charging_rate_unit": "A", "charging_schedule_period": [
            {"start_period": 0, "limit": 16.0, "number_phases": 3},
            {"start_period": 3600, "limit": 10.0}]}}
    assert [(p["connector_id"], p["source"], p["charging_profile"]["id"])
            for p in await held(api)] == [(1, "hub", 7)]

    # Same connector, purpose and stack level: the station replaces it, so does the record.
    await api.ok("POST", PROFILES, json={**ONE, "connector_id": 1,
                                         "charging_profile": profile(id=8)})
    assert [p["charging_profile"]["id"] for p in await held(api)] == [8]
    # What the station rejects it does not hold.
    station.answers["SetChargingProfile"] = call_result.SetChargingProfile(status="Rejected")
    body = await api.ok("POST", PROFILES, json={**ONE, "connector_id": 0, "charging_profile":
                                                profile(id=9, purpose="ChargePointMaxProfile")})
    assert body["status"] == "Rejected"
    assert [p["charging_profile"]["id"] for p in await held(api)] == [8]

    assert await api.ok("DELETE", PROFILES, params={**ONE, "id": 8}) == {"status": "Accepted"}
    assert sent(station, "ClearChargingProfile")[-1] == {"id": 8}
    assert await held(api) == []


async def test_a_tx_profile_names_the_transaction_and_ends_with_it(api: Api, hub: RunningHub,
                                                                    station: TestStation) -> None:
    started = await station.call(call.StartTransaction(connector_id=1, id_tag="TAG-1",
                                                       meter_start=0, timestamp=now()))
    tx = started.transaction_id
    body = await api.ok("POST", PROFILES, json={**ONE, "connector_id": 1, "charging_profile":
                                                profile(purpose="TxProfile", transaction_id=tx)})
    assert body["charging_profile"]["kind"] == "Relative"
    wire = sent(station, "SetChargingProfile")[-1]["cs_charging_profiles"]
    assert (wire["transaction_id"], wire["charging_profile_purpose"]) == (tx, "TxProfile")
    assert len(await held(api)) == 1
    await station.call(call.StopTransaction(transaction_id=tx, meter_stop=10, timestamp=now()))
    await wait_for(lambda: _no_profiles(hub), timeout=10)


async def _no_profiles(hub: RunningHub) -> bool:
    from hub.services.charging_profile_record import held_profiles
    return await held_profiles(hub.hub, STATION) == []


async def test_bad_profiles_are_refused_naming_the_field(api: Api, station: TestStation) -> None:
    cases = [
        ({"charging_profile": profile(stack_level=-1)}, "charging_profile.stack_level"),
        ({"charging_profile": profile(purpose="Nope")}, "charging_profile.purpose"),
        ({"charging_profile": profile(charging_schedule={
            "charging_rate_unit": "kW", "charging_schedule_period": [
                {"start_period": 0, "limit": 1}]})},
         "charging_profile.charging_schedule.charging_rate_unit"),
        ({"charging_profile": profile(charging_schedule={
            "charging_rate_unit": "A", "charging_schedule_period": [
                {"start_period": 60, "limit": 1}]})},
         "charging_profile.charging_schedule.charging_schedule_period[0].start_period"),
        ({"charging_profile": profile(charging_schedule={
            "charging_rate_unit": "W", "charging_schedule_period": [
                {"start_period": 0, "limit": 1}, {"start_period": 0, "limit": 2}]})},
         "charging_profile.charging_schedule.charging_schedule_period[1].start_period"),
        ({"charging_profile": profile(charging_schedule={
            "charging_rate_unit": "A", "charging_schedule_period": [
                {"start_period": 0, "limit": -3}]})},
         "charging_profile.charging_schedule.charging_schedule_period[0].limit"),
        ({"connector_id": 1, "charging_profile": profile(purpose="TxProfile")},
         "charging_profile.transaction_id"),
        ({"connector_id": 0, "charging_profile": profile(purpose="TxProfile", transaction_id=1)},
         "connector_id"),
        ({"connector_id": 2, "charging_profile": profile(purpose="ChargePointMaxProfile")},
         "connector_id"),
        ({"charging_profile": profile(kind="Absolute", charging_schedule={
            "charging_rate_unit": "A", "charging_schedule_period": [
                {"start_period": 0, "limit": 6}]})},
         "charging_profile.charging_schedule.start_schedule"),
    ]
    for extra, field in cases:
        err = await api.error("POST", PROFILES, 400, json={**ONE, "connector_id": 1, **extra})
        assert err["field"] == field, (field, err)
    assert sent(station, "SetChargingProfile") == []
    err = await api.error("GET", "/api/compositeSchedule", 400, params={**ONE, "duration": 0})
    assert err["field"] == "duration"


async def test_composite_schedule_of_a_1_6_station(api: Api, station: TestStation) -> None:
    station.answers["GetCompositeSchedule"] = call_result.GetCompositeSchedule(
        status="Accepted", connector_id=1, schedule_start="2026-11-21T10:00:00Z",
        charging_schedule={"charging_rate_unit": "A", "duration": 600,
                           "charging_schedule_period": [{"start_period": 0, "limit": 13.0}]})
    body = await api.ok("GET", "/api/compositeSchedule",
                        params={**ONE, "connector_id": 1, "duration": 600,
                                "charging_rate_unit": "A"})
    assert body == {"status": "Accepted", "connector_id": 1,
                    "schedule_start": "2026-11-21T10:00:00Z", "charging_schedule": {
                        "charging_rate_unit": "A", "duration": 600,
                        "charging_schedule_period": [{"start_period": 0, "limit": 13.0}]}}
    assert sent(station, "GetCompositeSchedule")[-1] == {
        "connector_id": 1, "duration": 600, "charging_rate_unit": "A"}


async def test_the_same_routes_drive_a_2_0_1_station(api: Api, hub: RunningHub) -> None:
    sid = "CP-201"
    async with connect_station201(hub, sid) as cp:
        await cp.boot()
        await cp.call(call201.TransactionEvent(
            event_type="Started", timestamp=datetime.now(UTC).isoformat(), seq_no=0,
            trigger_reason="CablePluggedIn", transaction_info={"transaction_id": "TX-9"},
            evse={"id": 1, "connector_id": 1}))
        tx = await wait_for(lambda: _transaction(hub, sid), timeout=10)
        body = await api.ok("POST", PROFILES, json={
            "station_id": sid, "connector_id": 1,
            "charging_profile": profile(id=21, purpose="TxProfile", transaction_id=tx)})
        assert body["status"] == "Accepted"
        wire = sent(cp, "SetChargingProfile")[-1]
        assert wire["evse_id"] == 1
        assert wire["charging_profile"]["transaction_id"] == "TX-9"
        assert wire["charging_profile"]["charging_schedule"][0]["id"] == 21
        await api.ok("POST", PROFILES, json={
            "station_id": sid, "connector_id": 0,
            "charging_profile": profile(id=22, purpose="ChargingStationMaxProfile")})
        assert (sent(cp, "SetChargingProfile")[-1]["charging_profile"]
                ["charging_profile_purpose"]) == "ChargingStationMaxProfile"

        # What the station reports it holds joins the record.
        await cp.call(call201.ReportChargingProfiles(
            request_id=5, charging_limit_source="EMS", evse_id=2, charging_profile=[{
                "id": 30, "stack_level": 0, "charging_profile_purpose": "TxDefaultProfile",
                "charging_profile_kind": "Relative", "charging_schedule": [{
                    "id": 1, "start_schedule": "2026-11-21T00:00:00Z",
                    "charging_rate_unit": "W", "charging_schedule_period": [
                        {"start_period": 0, "limit": 7000.0}]}]}]))
        assert [(p["connector_id"], p["source"], p["charging_profile"]["id"])
                for p in await held(api, sid)] == [(0, "hub", 22), (1, "hub", 21),
                                                   (2, "report", 30)]

        assert await api.ok("DELETE", PROFILES, params={
            "station_id": sid, "connector_id": 0, "purpose": "ChargePointMaxProfile"}) == {
            "status": "Accepted"}
        assert sent(cp, "ClearChargingProfile")[-1] == {"charging_profile_criteria": {
            "evse_id": 0, "charging_profile_purpose": "ChargingStationMaxProfile"}}
        assert [p["charging_profile"]["id"] for p in await held(api, sid)] == [21, 30]

        body = await api.ok("GET", "/api/compositeSchedule",
                            params={"station_id": sid, "connector_id": 1, "duration": 300})
        assert body["charging_schedule"]["charging_schedule_period"] == [
            {"start_period": 0, "limit": 11000.0}]
        cp.answers["SetChargingProfile"] = call_result201.SetChargingProfile(status="Rejected")
        body = await api.ok("POST", PROFILES, json={
            "station_id": sid, "connector_id": 1, "charging_profile": profile(id=40)})
        assert body["status"] == "Rejected"


async def _transaction(hub: RunningHub, station_id: str) -> int | None:
    async with hub.hub.sessions() as session:
        return (await session.execute(sa.select(Transaction.id).where(
            Transaction.station_id == station_id))).scalar()

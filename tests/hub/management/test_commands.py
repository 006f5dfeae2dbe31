"""The "OCPP Server" command routes against a real `ocpp` 1.6 station: each route sends the
right call, and answers with what the station answered (also when it is not Accepted)."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa
from ocpp.v16 import call, call_result

from hub.db.models import IdTag, Station, Transaction
from tests.harness import RunningHub, TestStation, connect_station, now, wait_for
from tests.hub.management.conftest import STATION, Api

ONE = {"station_id": STATION}


def last(cp: TestStation, action: str) -> dict[str, Any]:
    matching = [r for r in cp.received if r.action == action]
    assert matching, f"the station received no {action}"
    return matching[-1].payload


async def test_get_configuration_returns_the_stations_keys(api: Api, station: TestStation) -> None:
    body = await api.ok("GET", "/api/getConfiguration",
                        params={"station_id": STATION, "key": "HeartbeatInterval,UnknownX"})
    assert body["status"] == "Accepted"
    assert {"key": "HeartbeatInterval", "readonly": False, "value": "300"} in \
        body["configurationKey"]
    assert body["unknownKey"] == ["UnknownX"]
    assert last(station, "GetConfiguration")["key"] == ["HeartbeatInterval", "UnknownX"]


async def test_set_and_custom_configuration(api: Api, station: TestStation) -> None:
    body = await api.ok("POST", "/api/setConfiguration",
                        json={**ONE, "key": "HeartbeatInterval", "value": 60})
    assert body["status"] == "Accepted"
    assert last(station, "ChangeConfiguration") == {"key": "HeartbeatInterval", "value": "60"}

    station.answers["ChangeConfiguration"] = call_result.ChangeConfiguration(status="Rejected")
    body = await api.ok("POST", "/api/changeConfiguration/custom",
                        json={**ONE, "payload": {"key": "VendorSpecific", "value": True}})
    assert body["status"] == "Rejected"
    assert last(station, "ChangeConfiguration") == {"key": "VendorSpecific", "value": "true"}

    station.answers["ChangeConfiguration"] = call_result.ChangeConfiguration(
        status="RebootRequired")
    body = await api.ok("POST", "/WallboxManagement/setConfiguration",
                        json={**ONE, "key": "MeterValueSampleInterval", "value": "30"})
    assert body["status"] == "RebootRequired"

    err = await api.error("POST", "/api/setConfiguration", 400, json={**ONE, "key": "X"})
    assert err["field"] == "value"
    err = await api.error("POST", "/api/changeConfiguration/custom", 400,
                          json={**ONE, "payload": {"value": "1"}})
    assert err["field"] == "payload.key"


async def test_local_auth_configuration_read_and_write(api: Api, station: TestStation) -> None:
    station.answers["GetConfiguration"] = call_result.GetConfiguration(
        configuration_key=[{"key": "LocalAuthListEnabled", "readonly": False, "value": "true"},
                           {"key": "LocalAuthListMaxLength", "readonly": True, "value": "500"}],
        unknown_key=["LocalPreAuthorize"])
    body = await api.ok("GET", "/api/localAuth/configuration", params=ONE)
    assert body["LocalAuthListEnabled"] == "true"
    assert body["LocalAuthListMaxLength"] == "500"
    assert body["LocalPreAuthorize"] is None
    assert "LocalAuthListEnabled" in last(station, "GetConfiguration")["key"]

    body = await api.ok("POST", "/api/localAuth/configuration",
                        json={**ONE, "LocalAuthListEnabled": True, "LocalAuthorizeOffline": False})
    assert body == {"status": "Accepted", "results": {"LocalAuthListEnabled": "Accepted",
                                                      "LocalAuthorizeOffline": "Accepted"}}
    changes = [r.payload for r in station.received if r.action == "ChangeConfiguration"]
    assert changes == [{"key": "LocalAuthListEnabled", "value": "true"},
                       {"key": "LocalAuthorizeOffline", "value": "false"}]

    station.answers["ChangeConfiguration"] = call_result.ChangeConfiguration(status="NotSupported")
    body = await api.ok("POST", "/api/localAuth/configuration",
                        json={**ONE, "LocalPreAuthorize": "true"})
    assert body["status"] == "NotSupported"
    err = await api.error("POST", "/api/localAuth/configuration", 400,
                          json={**ONE, "HeartbeatInterval": "1"})
    assert err["field"] == "HeartbeatInterval"


async def test_local_list_version_and_send_local_list(hub: RunningHub, api: Api,
                                                      station: TestStation) -> None:
    assert await api.ok("GET", "/api/localAuth/listVersion", params=ONE) == {"listVersion": 7}
    async with hub.hub.sessions() as session, session.begin():
        session.add_all([IdTag(id_tag="TAG-OK"), IdTag(id_tag="TAG-BLOCKED", blocked=True),
                         IdTag(id_tag="X" * 30)])  # too long for OCPP 1.6: left out
    # No list given: a Full update built from the hub's id tags, version = known + 1.
    body = await api.ok("POST", "/api/localAuth/sendLocalList", json=ONE)
    assert body == {"status": "Accepted", "listVersion": 8, "entries": 2}
    sent = last(station, "SendLocalList")
    assert sent["list_version"] == 8 and sent["update_type"] == "Full"
    assert sent["local_authorization_list"] == [
        {"id_tag": "TAG-BLOCKED", "id_tag_info": {"status": "Blocked"}},
        {"id_tag": "TAG-OK", "id_tag_info": {"status": "Accepted"}}]
    async with hub.hub.sessions() as session:
        assert (await session.get(Station, STATION)).local_list_version == 8

    station.answers["SendLocalList"] = call_result.SendLocalList(status="VersionMismatch")
    body = await api.ok("POST", "/api/localAuth/sendLocalList", json={
        **ONE, "listVersion": 3, "updateType": "Differential",
        "localAuthorizationList": [{"idTag": "NEW", "idTagInfo": {"status": "Accepted"}}]})
    assert body["status"] == "VersionMismatch"
    await api.error("POST", "/api/localAuth/sendLocalList", 400,
                    json={**ONE, "updateType": "Differential"})


async def test_change_availability(api: Api, station: TestStation) -> None:
    body = await api.ok("POST", "/api/changeAvailability",
                        json={**ONE, "connector_id": 1, "type": "Inoperative"})
    assert body["status"] == "Accepted"
    assert last(station, "ChangeAvailability") == {"connector_id": 1, "type": "Inoperative"}
    station.answers["ChangeAvailability"] = call_result.ChangeAvailability(status="Scheduled")
    body = await api.ok("POST", "/api/changeAvailability", json={**ONE, "type": "Operative"})
    assert body["status"] == "Scheduled"
    assert last(station, "ChangeAvailability")["connector_id"] == 0
    err = await api.error("POST", "/api/changeAvailability", 400, json={**ONE, "type": "Off"})
    assert err["field"] == "type"


async def test_trigger_routes(api: Api, station: TestStation) -> None:
    for route, message, extra in (
        ("/api/triggerBootNotification", "BootNotification", {}),
        ("/api/triggerMeterValues", "MeterValues", {"connector_id": 1}),
        ("/api/triggerStatusNotification", "StatusNotification", {"connector_id": 2}),
        ("/api/triggerMessage", "Heartbeat", {"requested_message": "Heartbeat"}),
    ):
        body = await api.ok("POST", route, json={**ONE, **extra})
        assert body["status"] == "Accepted"
        sent = last(station, "TriggerMessage")
        assert sent["requested_message"] == message
        assert sent.get("connector_id") == extra.get("connector_id")
    station.answers["TriggerMessage"] = call_result.TriggerMessage(status="NotImplemented")
    body = await api.ok("POST", "/api/triggerMessage",
                        json={**ONE, "requested_message": "DiagnosticsStatusNotification"})
    assert body["status"] == "NotImplemented"
    err = await api.error("POST", "/api/triggerMessage", 400,
                          json={**ONE, "requested_message": "Reset"})
    assert err["field"] == "requested_message"


async def test_status_round_call_reaches_every_connected_station(
        hub: RunningHub, api: Api, station: TestStation) -> None:
    async with connect_station(hub, "CP-2") as second:
        await wait_for(lambda: "CP-2" in hub.hub.stations)
        second.answers["TriggerMessage"] = call_result.TriggerMessage(status="Rejected")
        body = await api.ok("POST", "/api/statusRoundCall")
    assert body == {"triggered": [STATION], "not_triggered": {"CP-2": "Rejected"}}
    assert last(station, "TriggerMessage") == {"requested_message": "StatusNotification"}
    assert last(second, "TriggerMessage") == {"requested_message": "StatusNotification"}


async def test_reset_and_reboot(api: Api, station: TestStation) -> None:
    body = await api.ok("POST", "/api/reset", json={**ONE, "type": "Hard"})
    assert body == {"status": "Accepted", "type": "Hard"}
    assert last(station, "Reset") == {"type": "Hard"}
    station.answers["Reset"] = call_result.Reset(status="Rejected")
    body = await api.ok("POST", "/api/reset", json=ONE)
    assert body == {"status": "Rejected", "type": "Soft"}


async def test_disconnect_closes_the_socket(hub: RunningHub, api: Api,
                                            station: TestStation) -> None:
    body = await api.ok("POST", "/api/disconnect", json=ONE)
    assert body == {"status": "disconnected", "station_id": STATION}
    await wait_for(lambda: STATION not in hub.hub.stations)
    await api.error("POST", "/api/disconnect", 409, "station_offline", json=ONE)


async def test_remote_start_reports_the_transaction_the_charger_started(
        hub: RunningHub, api: Api, station: TestStation) -> None:
    def remote_start(**kw: Any) -> Any:
        async def start() -> None:
            await station.call(call.StartTransaction(
                connector_id=kw["connector_id"], id_tag=kw["id_tag"], meter_start=100,
                timestamp=now()))

        asyncio.get_running_loop().create_task(start())
        return call_result.RemoteStartTransaction(status="Accepted")

    station.answers["RemoteStartTransaction"] = remote_start
    body = await api.ok("POST", "/api/startTransaction",
                        json={**ONE, "id_tag": "TAG-1", "connector_id": 1})
    async with hub.hub.sessions() as session:
        row = (await session.execute(sa.select(Transaction))).scalar_one()
    assert body == {"status": "Accepted", "transaction_id": row.id}
    assert row.id_tag == "TAG-1" and row.connector_id == 1
    assert last(station, "RemoteStartTransaction") == {"id_tag": "TAG-1", "connector_id": 1}

    station.answers["RemoteStartTransaction"] = call_result.RemoteStartTransaction(
        status="Rejected")
    body = await api.ok("POST", "/api/startTransaction", json={**ONE, "id_tag": "TAG-2"})
    assert body == {"status": "Rejected", "transaction_id": None}
    err = await api.error("POST", "/api/startTransaction", 400, json={**ONE, "id_tag": "X" * 21})
    assert err["field"] == "id_tag"


async def test_remote_stop_finds_the_active_transaction(hub: RunningHub, api: Api,
                                                        station: TestStation) -> None:
    await api.error("POST", "/api/stopTransaction", 404, "no_active_transaction", json=ONE)
    started = await station.call(call.StartTransaction(connector_id=2, id_tag="TAG-1",
                                                       meter_start=0, timestamp=now()))
    body = await api.ok("POST", "/api/stopTransaction", json=ONE)
    assert body == {"status": "Accepted", "transaction_id": started.transaction_id}
    assert last(station, "RemoteStopTransaction") == {"transaction_id": started.transaction_id}
    station.answers["RemoteStopTransaction"] = call_result.RemoteStopTransaction(
        status="Rejected")
    body = await api.ok("POST", "/api/stopTransaction", json={**ONE, "transaction_id": 999})
    assert body == {"status": "Rejected", "transaction_id": 999}


async def test_unlock_connector(api: Api, station: TestStation) -> None:
    body = await api.ok("POST", "/api/unlockConnector", json={**ONE, "connector_id": 1})
    assert body["status"] == "Unlocked"
    station.answers["UnlockConnector"] = call_result.UnlockConnector(status="UnlockFailed")
    body = await api.ok("POST", "/api/unlockConnector", json={**ONE, "connector_id": 2})
    assert body["status"] == "UnlockFailed"
    assert last(station, "UnlockConnector") == {"connector_id": 2}
    err = await api.error("POST", "/api/unlockConnector", 400, json=ONE)
    assert err["field"] == "connector_id"


async def test_data_transfer(api: Api, station: TestStation) -> None:
    body = await api.ok("POST", "/api/datatransfer", json={
        **ONE, "vendor_id": "com.example", "message_id": "ping", "data": {"n": 1}})
    assert body == {"status": "Accepted", "data": "pong"}
    assert last(station, "DataTransfer") == {"vendor_id": "com.example", "message_id": "ping",
                                             "data": '{"n":1}'}
    station.answers["DataTransfer"] = call_result.DataTransfer(status="UnknownVendorId")
    body = await api.ok("POST", "/api/datatransfer", json={**ONE, "vendor_id": "x"})
    assert body == {"status": "UnknownVendorId", "data": None}


async def test_diagnostics_and_firmware(api: Api, station: TestStation) -> None:
    body = await api.ok("POST", "/api/getDiagnostics", json={
        **ONE, "location": "ftp://diag.example/up", "retries": 2,
        "start_time": "2024-01-01T00:00:00Z"})
    assert body["status"] == "queued" and body["fileName"] == "diag.zip"
    sent = last(station, "GetDiagnostics")
    assert sent["location"] == "ftp://diag.example/up" and sent["retries"] == 2
    assert sent["start_time"] == "2024-01-01T00:00:00.000Z"

    body = await api.ok("POST", "/api/updateFirmware", json={
        **ONE, "location": "https://fw.example/fw.bin", "retrieve_date": "2030-01-01T00:00:00Z"})
    assert body["status"] == "Accepted"
    assert last(station, "UpdateFirmware") == {"location": "https://fw.example/fw.bin",
                                               "retrieve_date": "2030-01-01T00:00:00.000Z"}

    reply = await api.get(f"/updateFirmware/{STATION}", params={"location": "https://fw/2"})
    assert reply.status == 200 and reply.body == f"UpdateFirmware gesendet an {STATION}"
    assert last(station, "UpdateFirmware")["location"] == "https://fw/2"
    body = await api.ok("GET", f"/updateFirmware/{STATION}", "/updateFirmware/{station_id}",
                        params={"location": "https://fw/3"},
                        headers={"Accept": "application/json"})
    assert body["status"] == "Accepted" and body["location"] == "https://fw/3"
    err = await api.error("POST", "/api/updateFirmware", 400, json=ONE)
    assert err["field"] == "location"

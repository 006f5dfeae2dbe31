"""The OCPP 2.0.1 blocks through the management API, against a real `ocpp` 2.0.1 station:
every generic command route (/api/ocpp/{Action}) sends the payload as given and answers with
the station's answer; what must be kept is kept (monitors, display messages, network
profiles, firmware publishing status, customer-information reports); payload errors name the
field, and a 1.6 station gets 409 for a 2.0.1-only command."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from hub.db.models import StationNotification
from hub.services import report_parts
from tests.harness import RunningHub, connect_station, connect_station201, wait_for
from tests.hub.management.conftest import Api

SID = "CP-BLK"
COMPONENT = {"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Power"}}
MESSAGE = {"id": 5, "priority": "InFront",
           "message": {"format": "UTF8", "content": "Charging is free today"}}
PROFILE = {"ocppVersion": "OCPP20", "ocppTransport": "JSON",
           "ocppCsmsUrl": "wss://hub.example.com/ocpp", "messageTimeout": 30,
           "securityProfile": 2, "ocppInterface": "Wired0"}


async def command(api: Api, action: str, payload: dict[str, Any], station: str = SID) -> Any:
    return await api.ok("POST", f"/api/ocpp/{action}",
                        json={"station_id": station, "payload": payload})


async def test_every_generic_2_0_1_command_reaches_the_station(hub: RunningHub,
                                                               api: Api) -> None:
    simple = {
        "GetReport": ({"componentCriteria": ["Problem"]}, "EmptyResultSet"),
        "SetMonitoringBase": ({"monitoringBase": "FactoryDefault"}, "Accepted"),
        "SetMonitoringLevel": ({"severity": 5}, "Accepted"),
        "UnpublishFirmware": ({"checksum": "0" * 32}, "Unpublished"),
        "ClearCache": ({}, "Accepted"),
        "TriggerMessage": ({"requestedMessage": "SignV2GCertificate"}, "Accepted"),
        "SetVariables": ({"setVariableData": [{
            "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"},
            "attributeValue": "120"}]}, None),
    }
    async with connect_station201(hub, SID) as cp:
        await cp.boot()
        for action, (payload, status) in simple.items():
            body = await command(api, action, payload)
            assert body["action"] == action and cp.received[-1].action == action
            if status is not None:
                assert body["response"]["status"] == status, body
        assert body["response"]["setVariableResult"][0]["attributeStatus"] == "Accepted"
        # GetReport got a requestId the hub picked, and says which.
        [report] = [r for r in cp.received if r.action == "GetReport"]
        assert report.payload["request_id"] > 0

        body = await command(api, "GetBaseReport", {"requestId": 77,
                                                    "reportBase": "FullInventory"})
        assert body["request_id"] == 77 and body["response"]["status"] == "Accepted"

        body = await command(api, "GetTransactionStatus", {"transactionId": "tx-1"})
        assert body["response"] == {"messagesInQueue": False, "ongoingIndicator": True}

        # GetChargingProfiles: the station's ReportChargingProfiles is what the hub holds.
        body = await command(api, "GetChargingProfiles", {"chargingProfile": {
            "chargingProfilePurpose": "TxDefaultProfile"}})
        assert body["response"]["status"] == "Accepted" and body["request_id"] > 0

        async def profile_ids() -> list[int]:
            held = await api.ok("GET", "/api/chargingProfiles", params={"station_id": SID})
            return [p["charging_profile"]["id"] for p in held["profiles"]]

        assert await wait_for(lambda: _equals(profile_ids, [41]))

        body = await command(api, "CostUpdated", {"totalCost": 12.34,
                                                  "transactionId": "tx-1"})
        assert body["response"] == {}
        assert cp.received[-1].payload == {"total_cost": 12.34, "transaction_id": "tx-1"}


async def test_monitors_display_messages_and_network_profiles_are_kept(hub: RunningHub,
                                                                      api: Api) -> None:
    async with connect_station201(hub, SID) as cp:
        await cp.boot()
        path = f"/api/stations/{SID}"
        body = await command(api, "SetVariableMonitoring", {"setMonitoringData": [
            {**COMPONENT, "value": 11000, "type": "UpperThreshold", "severity": 3}]})
        assert body["response"]["setMonitoringResult"][0]["id"] == 100
        held = (await api.ok("GET", f"{path}/monitors",
                             route="/api/stations/{station_id}/monitors"))["monitors"]
        assert [(m["id"], m["source"], m["monitor"]["value"]) for m in held] == [
            (100, "hub", 11000)]

        # A monitoring report in two parts: kept as parts, its monitors held.
        body = await command(api, "GetMonitoringReport", {"monitoringCriteria":
                                                          ["ThresholdMonitoring"]})
        request_id = body["request_id"]

        async def report_done() -> bool:
            report = await report_parts.assembled(hub.hub, SID, report_parts.MONITORING,
                                                  request_id)
            return bool(report and report.complete)

        await wait_for(report_done)
        report = await report_parts.assembled(hub.hub, SID, report_parts.MONITORING,
                                              request_id)
        assert report is not None
        assert [m["variableMonitoring"][0]["id"] for m in report.items()] == [7, 8]
        held = (await api.ok("GET", f"{path}/monitors",
                             route="/api/stations/{station_id}/monitors"))["monitors"]
        assert [(m["id"], m["source"]) for m in held] == [(7, "report"), (8, "report"),
                                                          (100, "hub")]
        body = await command(api, "ClearVariableMonitoring", {"id": [100, 7]})
        assert [r["status"] for r in body["response"]["clearMonitoringResult"]] == [
            "Accepted", "Accepted"]
        held = (await api.ok("GET", f"{path}/monitors",
                             route="/api/stations/{station_id}/monitors"))["monitors"]
        assert [m["id"] for m in held] == [8]

        # Display messages: set, reported (NotifyDisplayMessages has no seqNo), cleared.
        await command(api, "SetDisplayMessage", {"message": MESSAGE})
        body = await command(api, "GetDisplayMessages", {"priority": "NormalCycle"})

        async def messages() -> list[int]:
            answer = await api.ok("GET", f"{path}/displayMessages",
                                  route="/api/stations/{station_id}/displayMessages")
            return [m["id"] for m in answer["display_messages"]]

        await wait_for(lambda: _equals(messages, [5, 31, 32]))
        report = await report_parts.assembled(hub.hub, SID, report_parts.DISPLAY_MESSAGES,
                                              body["request_id"])
        assert report is not None and report.complete and len(report.parts) == 2
        await command(api, "ClearDisplayMessage", {"id": 31})
        assert await messages() == [5, 32]

        body = await command(api, "SetNetworkProfile", {"configurationSlot": 2,
                                                        "connectionData": PROFILE})
        assert body["response"]["status"] == "Accepted"
        profiles = (await api.ok("GET", f"{path}/networkProfiles",
                                 route="/api/stations/{station_id}/networkProfiles"))
        assert [(p["configuration_slot"], p["connection_data"]["ocppCsmsUrl"])
                for p in profiles["network_profiles"]] == [(2, PROFILE["ocppCsmsUrl"])]

        # Firmware publishing: the local controller's status and locations are kept.
        body = await command(api, "PublishFirmware", {
            "location": "https://fw.example.com/fw.bin", "checksum": "a" * 32})
        request_id = body["request_id"]

        async def published() -> Any:
            async with hub.hub.sessions() as session:
                return (await session.execute(sa.select(StationNotification).where(
                    StationNotification.station_id == SID,
                    StationNotification.kind == "PublishFirmwareStatus"))).scalars().first()

        row = await wait_for(published)
        assert (row.status, row.request_id) == ("Published", request_id)
        assert "http://lc.local/fw.bin" in row.detail


async def test_customer_information_is_requested_and_its_report_stored(hub: RunningHub,
                                                                       api: Api) -> None:
    async with connect_station201(hub, SID) as cp:
        await cp.boot()
        body = await api.ok("POST", "/api/customerInformation", json={
            "station_id": SID, "id_token": {"idToken": "04A2B3C4", "type": "ISO14443"},
            "report": True, "clear": True})
        assert body["status"] == "Accepted" and body["complete"] is True
        assert body["data"] == "token 04A2B3C4: 3 sessions, last 2026-11-30"
        sent = cp.received[-1]
        assert (sent.action, sent.payload["clear"], sent.payload["id_token"]["id_token"]) == (
            "CustomerInformation", True, "04A2B3C4")
        stored = await api.ok("GET", "/api/customerInformation",
                              params={"station_id": SID, "request_id": body["request_id"]})
        assert stored["data"] == body["data"] and stored["parts"] == 2
        listed = await api.ok("GET", "/api/customerInformation", params={"station_id": SID})
        assert listed["request_ids"] == [body["request_id"]]
        await api.error("POST", "/api/customerInformation", 400, json={"station_id": SID})


async def test_payload_errors_name_the_field_and_versions_are_kept_apart(hub: RunningHub,
                                                                         api: Api) -> None:
    async with connect_station201(hub, SID) as cp:
        await cp.boot()
        error = await api.error("POST", "/api/ocpp/SetNetworkProfile", 400, json={
            "station_id": SID, "payload": {"connectionData": PROFILE}})
        assert error["field"] == "payload.configurationSlot", error
        error = await api.error("POST", "/api/ocpp/SetMonitoringLevel", 400, json={
            "station_id": SID, "payload": {"severity": "high"}})
        assert error["field"] == "payload.severity"
        assert not [r for r in cp.received if r.action == "SetMonitoringLevel"]
    async with connect_station(hub, "CP-16") as cp16:
        await wait_for(lambda: "CP-16" in hub.hub.stations)
        await cp16.boot()
        await api.error("POST", "/api/ocpp/GetReport", 409, "unsupported_ocpp_version",
                        json={"station_id": "CP-16", "payload": {}})


async def _equals(get: Any, expected: Any) -> bool:
    return await get() == expected

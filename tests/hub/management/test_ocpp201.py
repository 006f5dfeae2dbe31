"""The same management routes drive an OCPP 2.0.1 station (through the version-independent
station commands) and answer in the seed's shapes; routes without a 2.0.1 mapping say so."""

from __future__ import annotations

from typing import Any

from hub.management.common import COMMAND_VERSIONS
from tests.harness import RunningHub, connect_station, connect_station201, wait_for
from tests.hub.management.conftest import Api

SID = "CP-201"
ONE = {"station_id": SID}


async def test_command_routes_reach_a_2_0_1_station(hub: RunningHub, api: Api) -> None:
    async with connect_station201(hub, SID) as cp:
        await cp.boot()

        def last() -> Any:
            return cp.received[-1]

        assert await api.ok("POST", "/api/reset", json={**ONE, "type": "Hard"}) == {
            "status": "Accepted", "type": "Hard"}
        assert (last().action, last().payload) == ("Reset", {"type": "Immediate"})

        body = await api.ok("POST", "/api/changeAvailability",
                            json={**ONE, "connector_id": 1, "type": "Inoperative"})
        assert body["status"] == "Accepted"
        assert last().payload == {"operational_status": "Inoperative", "evse": {"id": 1}}

        body = await api.ok("GET", "/api/getConfiguration",
                            params={**ONE, "key": "HeartbeatInterval,NoSuch16Key"})
        assert body == {"status": "Accepted", "unknownKey": ["NoSuch16Key"],
                        "configurationKey": [{"key": "HeartbeatInterval", "readonly": False,
                                              "value": "300"}]}
        assert last().action == "GetVariables"

        body = await api.ok("POST", "/api/setConfiguration",
                            json={**ONE, "key": "HeartbeatInterval", "value": 60})
        assert body["status"] == "Accepted" and last().action == "SetVariables"

        body = await api.ok("POST", "/api/triggerStatusNotification",
                            json={**ONE, "connector_id": 1})
        assert body["status"] == "Accepted" and last().action == "TriggerMessage"

        body = await api.ok("POST", "/api/localAuth/sendLocalList", json={
            **ONE, "listVersion": 4,
            "localAuthorizationList": [{"idTag": "04A1B2C3", "idTagInfo": {"status": "Accepted"}}]})
        assert body["status"] == "Accepted"
        assert (last().action, last().payload["version_number"]) == ("SendLocalList", 4)
        assert last().payload["local_authorization_list"][0]["id_token"]["id_token"] == \
            "04A1B2C3"

        body = await api.ok("POST", "/api/startTransaction",
                            json={**ONE, "id_tag": "04A1B2C3", "wait_seconds": 0})
        assert body == {"status": "Accepted", "transaction_id": None}
        assert last().action == "RequestStartTransaction"

        # Remote stop of a transaction the hub does not have for this station.
        await api.error("POST", "/api/stopTransaction", 404, "unknown_transaction",
                        json={**ONE, "transaction_id": 12345})

        # GetDiagnostics is GetLog (DiagnosticsLog) for 2.0.1, UpdateFirmware its own shape.
        assert "2.0.1" not in COMMAND_VERSIONS  # the plain 1.6-only routes still say so
        body = await api.ok("POST", "/api/getDiagnostics", json={**ONE, "location": "ftp://d/"})
        assert (body["action"], body["fileName"]) == ("GetLog", "log.tgz")
        assert (last().action, last().payload["log_type"]) == ("GetLog", "DiagnosticsLog")
        assert last().payload["request_id"] == body["request_id"]
        assert last().payload["log"] == {"remote_location": "ftp://d/"}
        body = await api.ok("POST", "/api/updateFirmware",
                            json={**ONE, "location": "https://fw.example/2.bin"})
        assert body["status"] == "Accepted" and last().action == "UpdateFirmware"
        assert last().payload["firmware"]["location"] == "https://fw.example/2.bin"
        assert last().payload["request_id"] == body["request_id"]

        async with connect_station(hub, "CP-16") as cp16:
            await wait_for(lambda: "CP-16" in hub.hub.stations)
            body = await api.ok("POST", "/api/statusRoundCall")
        assert body["triggered"] == ["CP-16", SID]
        assert cp16.received[-1].action == "TriggerMessage"

        body = await api.ok("GET", "/api/connected", params={"owner": "ocpp201"})
        assert [d["device"] for d in body["devices"]] == [SID]
        body = await api.ok("GET", "/api/websocketCounts")
        assert body["connections"]["by_ocpp_version"] == {"2.0.1": 1}

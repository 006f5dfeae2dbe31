"""One JSON error shape everywhere: 401 without a token, 404 unknown station, 409 offline,
504 charger timeout, 502 CALLERROR (with its code), 400 naming the field."""

from __future__ import annotations

import re
from typing import Any

import pytest
from ocpp.exceptions import NotSupportedError
from ocpp.v16 import call_result

from hub.credential_throttle import CREDENTIAL_THROTTLES
from tests.harness import RunningHub, TestStation
from tests.hub.management.conftest import STATION, Api

# Every command route with a valid request for station "{sid}".
COMMANDS: list[tuple[str, str, dict[str, Any] | None, dict[str, str] | None]] = [
    ("GET", "/api/getConfiguration", None, {"station_id": "{sid}"}),
    ("POST", "/api/setConfiguration", {"key": "K", "value": "1"}, None),
    ("POST", "/api/changeConfiguration/custom", {"key": "K", "value": "1"}, None),
    ("GET", "/api/localAuth/configuration", None, {"station_id": "{sid}"}),
    ("POST", "/api/localAuth/configuration", {"LocalAuthListEnabled": True}, None),
    ("GET", "/api/localAuth/listVersion", None, {"station_id": "{sid}"}),
    ("POST", "/api/localAuth/sendLocalList", {"localAuthorizationList": []}, None),
    ("POST", "/api/changeAvailability", {"type": "Operative"}, None),
    ("POST", "/api/triggerBootNotification", {}, None),
    ("POST", "/api/triggerMeterValues", {}, None),
    ("POST", "/api/triggerStatusNotification", {}, None),
    ("POST", "/api/triggerMessage", {"requested_message": "Heartbeat"}, None),
    ("POST", "/api/reset", {}, None),
    ("POST", "/api/disconnect", {}, None),
    ("POST", "/api/startTransaction", {"id_tag": "T", "wait_seconds": 0}, None),
    ("POST", "/api/stopTransaction", {"transaction_id": 1}, None),
    ("POST", "/api/unlockConnector", {"connector_id": 1}, None),
    ("POST", "/api/datatransfer", {"vendor_id": "v"}, None),
    ("POST", "/api/getDiagnostics", {"location": "ftp://x/"}, None),
    ("POST", "/api/updateFirmware", {"location": "https://x/fw"}, None),
    ("POST", "/WallboxManagement/setConfiguration", {"key": "K", "value": "1"}, None),
    ("GET", "/updateFirmware/{sid}", None, {"location": "https://x/fw"}),
    ("GET", "/rebootChargePoint/{sid}", None, None),
    ("GET", "/disconnectChargePoint/{sid}", None, None),
    ("GET", "/getDiagnostics/{sid}", None, {"location": "ftp://x/"}),
]


async def _command(api: Api, entry: tuple[Any, ...], sid: str, status: int, error: str) -> None:
    method, route, body, params = entry
    path = route.replace("{sid}", sid)
    json_body = None if body is None else {"station_id": sid, **body}
    query = None if params is None else {k: v.replace("{sid}", sid) for k, v in params.items()}
    reply = await api.error(method, path, status, error, json=json_body, params=query)
    assert reply.get("station_id") == sid, (route, reply)


async def test_unknown_station_is_404_on_every_command_route(api: Api) -> None:
    for entry in COMMANDS:
        await _command(api, entry, "NOPE", 404, "unknown_station")
    # An id no station can have (NUL) is unknown too, without reaching the database.
    reboot = next(c for c in COMMANDS if c[1] == "/rebootChargePoint/{sid}")
    await _command(api, reboot, "CP\x00", 404, "unknown_station")


async def test_known_but_offline_station_is_409_on_every_command_route(api: Api) -> None:
    await api.ok("POST", "/WallboxManagement/AddWallbox", json={"station_id": "CP-OFF"},
                 status=201)
    for entry in COMMANDS:
        await _command(api, entry, "CP-OFF", 409, "station_offline")


async def test_charger_timeout_is_504(api: Api, station: TestStation) -> None:
    station.delay = 1.0
    body = await api.error("POST", "/api/reset", 504, "charger_timeout",
                           json={"station_id": STATION, "timeout": 0.2})
    assert body["action"] == "Reset" and body["station_id"] == STATION


async def test_call_error_is_502_with_the_chargers_code(api: Api, station: TestStation) -> None:
    def refuse(**kw: Any) -> Any:
        raise NotSupportedError(description="no resets here")

    station.answers["Reset"] = refuse
    body = await api.error("POST", "/api/reset", 502, "charger_error",
                           json={"station_id": STATION})
    assert body["code"] == "NotSupported" and body["detail"] == "no resets here"
    assert body["action"] == "Reset"
    reply = await api.call("GET", f"/rebootChargePoint/{STATION}")
    assert reply.status == 502 and reply.body["code"] == "NotSupported"


@pytest.mark.parametrize(("method", "path", "kwargs", "field"), [
    ("POST", "/api/reset", {"data": "{not json"}, "body"),
    ("POST", "/api/reset", {"json": ["a", "list"]}, "body"),
    ("POST", "/api/reset", {}, "body"),
    ("POST", "/api/reset", {"json": {}}, "station_id"),
    ("POST", "/api/reset", {"json": {"station_id": 5}}, "station_id"),
    ("POST", "/api/reset", {"json": {"station_id": STATION, "type": "Medium"}}, "type"),
    ("POST", "/api/reset", {"json": {"station_id": STATION, "timeout": -1}}, "timeout"),
    ("GET", "/api/getConfiguration", {}, "station_id"),
    ("POST", "/api/changeAvailability",
     {"json": {"station_id": STATION, "type": "Operative", "connector_id": "one"}},
     "connector_id"),
    ("POST", "/api/getDiagnostics",
     {"json": {"station_id": STATION, "location": "x", "start_time": "yesterday"}},
     "start_time"),
    ("GET", "/api/station_liveness", {"params": {"sort": "nonsense"}}, "sort"),
    ("GET", "/api/ocpp_log_queue_metrics", {"params": {"window_minutes": "x"}},
     "window_minutes"),
    ("GET", "/tokens", {"params": {"limit": "0"}}, "limit"),
    ("GET", "/tokens", {"params": {"cursor": "!!"}}, "cursor"),
    ("GET", "/api/connected", {"params": {"owner": "ocpp99"}}, "owner"),
    # Found by the fuzz run on PostgreSQL, which cannot store NUL.
    ("GET", "/sessions", {"params": {"stationId": "CP\x00"}}, "stationId"),
    ("PUT", "/tokens", {"json": {"uid": "A\x00"}}, "tokens.uid"),
    ("POST", "/sessions", {"json": {"station_id": STATION, "connector_id": 1,
                                    "start_timestamp": "0001-01-01T00:00:00+01:00"}},
     "sessions.start_timestamp"),
])
async def test_bad_input_is_400_naming_the_field(api: Api, station: TestStation, method: str,
                                                 path: str, kwargs: dict[str, Any],
                                                 field: str) -> None:
    body = await api.error(method, path, 400, **kwargs)
    assert body["field"] == field, body
    assert station.received == []  # nothing reached the charger


async def test_request_the_ocpp_schema_refuses_is_400(api: Api, station: TestStation) -> None:
    body = await api.error("POST", "/api/localAuth/sendLocalList", 400, "invalid_request", json={
        "station_id": STATION, "listVersion": 1, "localAuthorizationList": [{"tag": "x"}]})
    assert "SendLocalList" in body["detail"]
    assert not [r for r in station.received if r.action == "SendLocalList"]


async def test_every_management_route_needs_a_token(hub: RunningHub, api: Api) -> None:
    # One wrong token per route: more than the throttle lets one address fail (429, tested in
    # tests/security); here each failure is forgotten at once, so every route's own 401 shows.
    hub.app[CREDENTIAL_THROTTLES].token_addresses.forget_after = 0
    for route, methods in api.document["paths"].items():
        for method, op in methods.items():
            path = route.replace("{station_id}", STATION).replace("{device}", STATION)
            # Other features' parameters (site ids, ...): a value their routes match.
            path = re.sub(r"\{[^}]+\}", "1", path)
            if op.get("security") == []:
                continue
            # The console's pages take its login session, never a token: without one a page
            # sends the browser to the login form and a form POST is refused.
            console = op.get("security") == [{"consoleSession": []}]
            for headers in ({}, {"Authorization": "Bearer pnch_wrong"}):
                reply = await api.call(method.upper(), path, auth=False, headers=headers)
                if console:
                    if method == "get":
                        assert reply.status == 303, (method, route, reply.status)
                        assert reply.headers["Location"].startswith("/console/?next="), route
                    else:
                        assert reply.status == 403, (method, route, reply.status)
                    continue
                assert reply.status == 401, (method, route, reply.status)
                assert reply.body["error"] == "unauthorized"


async def test_seed_charger_answer_is_never_optimistic(api: Api, station: TestStation) -> None:
    station.answers["Reset"] = call_result.Reset(status="Rejected")
    reply = await api.call("GET", f"/rebootChargePoint/{STATION}",
                           headers={"Accept": "application/json"})
    assert reply.body == {"status": "Rejected", "station_id": STATION, "type": "Soft"}

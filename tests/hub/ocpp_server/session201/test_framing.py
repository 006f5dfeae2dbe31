"""Malformed OCPP 2.0.1 frames get CALLERRORs with the OCPP-J 2.0.1 error codes, and the
connection stays up."""

from __future__ import annotations

import json

import pytest
import websockets

from tests.harness import RunningHub

BOOT = {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}}
EVENT = {"eventType": "Started", "timestamp": "2026-11-21T10:00:00Z",
         "triggerReason": "Authorized", "seqNo": 0, "transactionInfo": {"transactionId": "T1"}}

CASES = [
    # (frame, expected message id, expected error code)
    ("this is not json", "-1", "RpcFrameworkError"),
    ('{"not": "an array"}', "-1", "RpcFrameworkError"),
    ("[]", "-1", "RpcFrameworkError"),
    ('[2, 17, "Heartbeat", {}]', "-1", "RpcFrameworkError"),
    (b"\xff\xfe binary garbage", "-1", "RpcFrameworkError"),
    ('[2, "broken-1", "Heartbeat", {', "broken-1", "FormatViolation"),
    ('[7, "type-1", "Heartbeat", {}]', "type-1", "MessageTypeNotSupported"),
    ('[2, "short-1", "Heartbeat"]', "short-1", "ProtocolError"),
    (json.dumps([2, "req-1", "BootNotification", {"reason": "PowerUp"}]), "req-1",
     "OccurrenceConstraintViolation"),
    (json.dumps([2, "extra-1", "BootNotification", {**BOOT, "colour": "red"}]), "extra-1",
     "FormatViolation"),
    (json.dumps([2, "type-2", "TransactionEvent", {**EVENT, "seqNo": "zero"}]), "type-2",
     "TypeConstraintViolation"),
    (json.dumps([2, "enum-1", "BootNotification", {**BOOT, "reason": "Bored"}]), "enum-1",
     "PropertyConstraintViolation"),
    (json.dumps([2, "time-1", "TransactionEvent", {**EVENT, "timestamp": "yesterday"}]),
     "time-1", "PropertyConstraintViolation"),
    (json.dumps([2, "big-1", "TransactionEvent", {**EVENT, "seqNo": 2**40}]), "big-1",
     "PropertyConstraintViolation"),
    (json.dumps([2, "act-1", "FlyToTheMoon", {}]), "act-1", "NotSupported"),
    # A CSMS -> station action sent by a station: a 2.0.1 action the hub does not take.
    (json.dumps([2, "act-2", "Reset", {"type": "Immediate"}]), "act-2", "NotImplemented"),
]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_malformed_frames_get_2_0_1_error_codes(hub: RunningHub) -> None:
    async with websockets.connect(hub.ws_url("CP-BAD-201"), subprotocols=["ocpp2.0.1"]) as ws:
        for frame, unique_id, code in CASES:
            await ws.send(frame)
            answer = json.loads(await ws.recv())
            assert answer[:3] == [4, unique_id, code], (frame, answer)
            assert isinstance(answer[3], str) and isinstance(answer[4], dict)
        # Still connected and served normally.
        await ws.send(json.dumps([2, "ok-1", "Heartbeat", {}]))
        answer = json.loads(await ws.recv())
        assert answer[:2] == [3, "ok-1"] and answer[2]["currentTime"].endswith("Z")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_subprotocol_is_negotiated_per_connection(hub: RunningHub) -> None:
    async with websockets.connect(hub.ws_url("CP-V16"), subprotocols=["ocpp1.6"]) as ws16, \
            websockets.connect(hub.ws_url("CP-V201"),
                               subprotocols=["ocpp2.0.1", "ocpp1.6"]) as ws201:
        assert (ws16.subprotocol, ws201.subprotocol) == ("ocpp1.6", "ocpp2.0.1")
        # The same broken frame earns each version's own spelling.
        for ws, code in ((ws16, "OccurenceConstraintViolation"),
                         (ws201, "OccurrenceConstraintViolation")):
            await ws.send(json.dumps([2, "x", "Authorize", {}]))
            assert json.loads(await ws.recv())[:3] == [4, "x", code]
        assert hub.hub.stations.get("CP-V201").ocpp_version == "2.0.1"
        assert hub.hub.stations.get("CP-V16").ocpp_version == "1.6"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_data_transfer_data_reaches_its_handler_as_sent(hub: RunningHub) -> None:
    async def echo(session: object, data: str | None) -> tuple[str, str | None]:
        return "Accepted", data

    hub.hub.handle_data_transfer("com.example", "echo", echo)
    data = {"snake_key": {"camelKey": [1, {"MixedCase_key": True}]}}
    async with websockets.connect(hub.ws_url("CP-DT"), subprotocols=["ocpp2.0.1"]) as ws:
        await ws.send(json.dumps([2, "dt-1", "DataTransfer", {
            "vendorId": "com.example", "messageId": "echo", "data": data}]))
        answer = json.loads(await ws.recv())
    assert answer[:2] == [3, "dt-1"]
    assert answer[2]["status"] == "Accepted"
    assert json.loads(answer[2]["data"]) == data

"""Malformed frames get the CALLERROR the OCPP-J 1.6 spec prescribes, and the session stays up."""

from __future__ import annotations

import json

import pytest
import websockets

from tests.harness import RunningHub

CASES = [
    # (frame, expected unique id, expected error code)
    ("this is not json", "-1", "FormationViolation"),
    ('[2, "m1", "Heartbeat", {]', "m1", "FormationViolation"),
    ('{"not": "an array"}', "-1", "FormationViolation"),
    ("[]", "-1", "FormationViolation"),
    ('[2, "m2", "Heartbeat"]', "m2", "ProtocolError"),
    ('[7, "m3", "Heartbeat", {}]', "m3", "ProtocolError"),
    ('[2, "m4", "MakeCoffee", {}]', "m4", "NotSupported"),
    ('[2, "m5", "GetConfiguration", {}]', "m5", "NotImplemented"),  # a CSMS->CP action
    ('[2, "m6", "Authorize", {}]', "m6", "OccurenceConstraintViolation"),
    ('[2, "m7", "Authorize", {"idTag": 42}]', "m7", "TypeConstraintViolation"),
    ('[2, "m8", "Authorize", {"idTag": "' + "X" * 21 + '"}]', "m8", "TypeConstraintViolation"),
    ('[2, "m9", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", '
     '"status": "Dancing"}]', "m9", "PropertyConstraintViolation"),
    ('[2, "m10", "Heartbeat", {"extra": 1}]', "m10", "FormationViolation"),
    ('[2, "m11", "StartTransaction", {"connectorId": 1, "idTag": "A", "meterStart": 0, '
     '"timestamp": "yesterday"}]', "m11", "PropertyConstraintViolation"),
    ('[2, "m12", "Heartbeat", []]', "m12", "FormationViolation"),
    ('[2, 12, "Heartbeat", {}]', "-1", "FormationViolation"),
]


async def _exchange(ws: websockets.ClientConnection, frame: str | bytes) -> list:
    await ws.send(frame)
    return json.loads(await ws.recv())


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_each_malformed_frame_gets_its_callerror(hub: RunningHub) -> None:
    async with websockets.connect(hub.ws_url("CP-BAD"), subprotocols=["ocpp1.6"]) as ws:
        for frame, unique_id, code in CASES:
            answer = await _exchange(ws, frame)
            assert answer[0] == 4, (frame, answer)
            assert answer[1] == unique_id, (frame, answer)
            assert answer[2] == code, (frame, answer)
            assert isinstance(answer[3], str) and answer[3], frame
            assert isinstance(answer[4], dict), frame

        # Oversize: bigger than ocpp.max_frame_bytes, smaller than the hard limit.
        big = '[2, "big1", "DataTransfer", {"vendorId": "x", "data": "' + "A" * 70_000 + '"}]'
        answer = await _exchange(ws, big)
        assert answer[:3] == [4, "big1", "FormationViolation"]
        assert "exceeds" in answer[3]

        # Binary frames are not OCPP-J text frames, but still get an answer.
        answer = await _exchange(ws, b'[2, "bin1", "Heartbeat", {}]')
        assert answer[0] == 3 and answer[1] == "bin1"

        # After all that, the same connection still works.
        answer = await _exchange(ws, '[2, "ok1", "Heartbeat", {}]')
        assert answer[0] == 3 and answer[1] == "ok1" and "currentTime" in answer[2]

    snapshot = hub.hub.metrics.snapshot("in")
    assert snapshot["(malformed)"]["errors"] >= 5
    assert snapshot["Heartbeat"]["success"] >= 2


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_unexpected_answers_are_ignored(hub: RunningHub) -> None:
    async with websockets.connect(hub.ws_url("CP-STRAY"), subprotocols=["ocpp1.6"]) as ws:
        await ws.send('[3, "never-asked", {}]')
        await ws.send('[4, "never-asked-2", "GenericError", "x", {}]')
        answer = await _exchange(ws, '[2, "hb", "Heartbeat", {}]')
        assert answer[:2] == [3, "hb"]

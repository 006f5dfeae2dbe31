"""Fuzz: more than 10,000 malformed or hostile OCPP-J frames across many sessions, against the
hub as a real process.

Every frame must be answered as the OCPP-J spec says: a CALL-shaped frame (a JSON array
``[2, "<non-empty id>", ...]``) gets exactly one CALLRESULT or CALLERROR carrying its id; any
other frame that is not an answer gets a CALLERROR; an answer to nothing (``[3, ...]``,
``[4, ...]``) is not answered with a CALLRESULT. CALLRESULTs match the action's response schema,
CALLERRORs use the OCPP 1.6J codes, and none is an InternalError (an exception in the hub). At
the end the process is alive, serves new stations, and its log has no unhandled exception.

Frames are pipelined per session (the hub answers frames of one connection in order); a probe
Heartbeat after each frame that may go unanswered keeps the answers aligned with the frames.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from ocpp.messages import MessageType, get_validator
from ocpp.v16.enums import Action

from tests.harness.process import free_port
from tests.scale.process import LoggedHubProcess

MAX_FRAME = 65536
FRAMES_PER_SESSION = 40
SESSIONS = int(os.environ.get("PNC_HUB_FUZZ_SESSIONS", "250"))
STATION_POOL = 40
CODES_16 = {"NotImplemented", "NotSupported", "InternalError", "ProtocolError", "SecurityError",
            "FormationViolation", "PropertyConstraintViolation", "OccurenceConstraintViolation",
            "TypeConstraintViolation", "GenericError"}
TS = "2024-05-01T12:00:00Z"
VALID: dict[str, dict[str, Any]] = {
    "BootNotification": {"chargePointVendor": "ACME", "chargePointModel": "Fuzz"},
    "Heartbeat": {},
    "StatusNotification": {"connectorId": 1, "errorCode": "NoError", "status": "Available",
                           "timestamp": TS},
    "Authorize": {"idTag": "TAG-1"},
    "StartTransaction": {"connectorId": 1, "idTag": "TAG-1", "meterStart": 0, "timestamp": TS},
    "StopTransaction": {"meterStop": 10, "timestamp": TS, "transactionId": 1, "idTag": "TAG-1",
                        "transactionData": [{"timestamp": TS,
                                             "sampledValue": [{"value": "10"}]}]},
    "MeterValues": {"connectorId": 1, "transactionId": 1, "meterValue": [
        {"timestamp": TS, "sampledValue": [{"value": "5", "measurand": "SoC", "unit": "Percent"}]}
    ]},
    "DataTransfer": {"vendorId": "acme", "messageId": "m", "data": "d"},
    "DiagnosticsStatusNotification": {"status": "Idle"},
    "FirmwareStatusNotification": {"status": "Installed"},
    "SecurityEventNotification": {"type": "StartupOfTheDevice", "timestamp": TS},
    "LogStatusNotification": {"status": "Idle", "requestId": 1},
    "SignedFirmwareStatusNotification": {"status": "Downloaded", "requestId": 1},
    "SignCertificate": {"csr": "-----BEGIN CERTIFICATE REQUEST-----"},
}
ALL_ACTIONS = sorted(a.value for a in Action)

scalars = (st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False)
           | st.text(max_size=16) | st.sampled_from([TS, "", "Accepted", 2**31, -(2**31) - 1,
                                                     10**30, 1e308, -1, 0, "2024-13-45T99:99:99Z",
                                                     "9999-12-31T23:59:59+14:00", "\x00"]))
keys = st.sampled_from(["connectorId", "idTag", "status", "timestamp", "meterValue", "data",
                        "vendorId", "value", "transactionId", ""]) | st.text(max_size=8)
# Two levels deep at most: hypothesis' recursive strategies cost ~10 ms an example, and depth
# has its own hostile frames (see broken_frames).
json_values = scalars | st.lists(scalars, max_size=3) | st.dictionaries(
    keys, scalars | st.lists(scalars, max_size=2), max_size=3)
unique_ids = st.sampled_from(["\ud800", "a\"b", "back\\slash", " ", "-1", "x" * 36, "\x00",
                              "🔌", "x" * 37, "y" * 200]) | st.text(min_size=1, max_size=36)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    paths = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            paths += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            paths += _paths(item, (*prefix, index))
    return paths


# Strategies are built once: building them inside a composite costs more than drawing.
EDITS = st.lists(st.tuples(st.sampled_from(["drop", "replace", "add"]), st.integers(0, 99),
                           keys, json_values), max_size=3)
ACTIONS = st.sampled_from(list(VALID)) | st.sampled_from(ALL_ACTIONS) | st.text(max_size=20)
SHAPES = st.sampled_from(["ok"] * 6 + ["short", "long", "payload", "id"])
ANY_PAYLOAD = st.dictionaries(keys, json_values, max_size=5)
BROKEN_KINDS = st.sampled_from(["text", "json", "truncated", "type", "binary", "nested",
                                "bignum", "oversize", "nan"])
SMALL_INT = st.integers(0, 10_000)


def mutated_payload(action: str, edits: list[tuple[str, int, str, Any]]) -> dict[str, Any]:
    """A valid payload with a few hostile edits: a field dropped, replaced, or added."""
    payload = copy.deepcopy(VALID.get(action, {}))
    for edit, index, key, value in edits:
        paths = _paths(payload)
        if edit == "add" or not paths:
            payload[key] = value
            continue
        path = paths[index % len(paths)]
        parent = payload
        for step in path[:-1]:
            parent = parent[step]
        if edit == "drop" and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = value
    return payload


@st.composite
def call_frames(draw: st.DrawFn) -> str:
    action = draw(ACTIONS)
    edits = draw(EDITS)
    payload: Any = mutated_payload(action, edits) if edits or draw(st.booleans()) \
        else draw(ANY_PAYLOAD)
    message = [2, draw(unique_ids), action, payload]
    shape = draw(SHAPES)
    if shape == "short":
        message = message[: 2 + draw(st.booleans())]
    elif shape == "long":
        message.append(draw(json_values))
    elif shape == "payload":
        message[3] = draw(json_values)
    elif shape == "id":
        message[1] = draw(json_values)
    text = json.dumps(message, ensure_ascii=draw(st.booleans()))
    try:
        text.encode()
    except UnicodeEncodeError:  # a lone surrogate cannot be sent raw in UTF-8, only escaped
        text = json.dumps(message)
    return text


@st.composite
def answer_frames(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        message = [3, draw(unique_ids), draw(json_values)]
    else:
        message = [4, draw(unique_ids), draw(keys), draw(json_values), draw(json_values)]
    return json.dumps(message[: 1 + draw(SMALL_INT) % len(message)])


@st.composite
def broken_frames(draw: st.DrawFn) -> str | bytes:
    kind = draw(BROKEN_KINDS)
    if kind == "text":
        return draw(st.text(max_size=60))
    if kind == "json":
        return json.dumps(draw(json_values))
    if kind == "truncated":
        whole = draw(call_frames())
        return whole[: draw(SMALL_INT) % max(1, len(whole))]
    if kind == "type":
        return json.dumps([draw(json_values), draw(unique_ids), "Heartbeat", {}])
    if kind == "binary":
        return draw(st.binary(max_size=60))
    if kind == "nested":
        depth = (50, 5000, 200_000)[draw(SMALL_INT) % 3]
        inner = "[" * depth + "]" * depth
        return f'[2, "deep", "DataTransfer", {{"vendorId": "x", "data": {inner}}}]'[:MAX_FRAME * 4]
    if kind == "bignum":
        zeros = "0" * (5, 30, 5000)[draw(SMALL_INT) % 3]
        return (f'[2, "big", "StartTransaction", {{"connectorId": 1{zeros}, "idTag": "T", '
                f'"meterStart": 0, "timestamp": "{TS}"}}]')
    if kind == "nan":
        return '[2, "nan", "MeterValues", {"connectorId": NaN, "meterValue": Infinity}]'
    uid = f"big-{draw(SMALL_INT)}"
    return json.dumps([2, uid, "DataTransfer", {"vendorId": "x", "data": "A" * (MAX_FRAME + 10)}])


frames = st.one_of(call_frames(), call_frames(), answer_frames(), broken_frames())


def _strict_json(raw: str | bytes) -> Any:
    """JSON as RFC 8259 has it: NaN and Infinity are not JSON (Python accepts them)."""
    def refuse(name: str) -> Any:
        raise ValueError(name)

    return json.loads(raw, parse_constant=refuse)


def _call_shaped(raw: str | bytes) -> str | None:
    """The unique id of a CALL-shaped frame, else None."""
    try:
        message = _strict_json(raw)
    except (ValueError, RecursionError):
        return None
    if (isinstance(message, list) and len(message) >= 2 and not isinstance(message[0], bool)
            and message[0] == 2 and isinstance(message[1], str) and message[1]):
        return message[1]
    return None


def _is_answer(raw: str | bytes) -> bool:
    try:
        message = _strict_json(raw)
    except (ValueError, RecursionError):
        return False
    return (isinstance(message, list) and bool(message) and not isinstance(message[0], bool)
            and message[0] in (3, 4))


def _action(raw: str | bytes) -> str | None:
    try:
        message = json.loads(raw)
        return message[2] if isinstance(message[2], str) else None
    except (ValueError, RecursionError, LookupError, TypeError):
        return None


def _check_answer(raw: str | bytes, answer: list, expected_id: str | None) -> None:
    assert isinstance(answer, list) and answer and answer[0] in (3, 4), (raw, answer)
    if expected_id is not None:
        assert answer[1] == expected_id, (raw[:300], answer)
    if answer[0] == 4:
        assert len(answer) == 5, answer
        _, _, code, description, details = answer
        assert code in CODES_16, answer
        assert code != "InternalError", (raw[:300], answer)
        assert isinstance(description, str) and isinstance(details, dict), answer
        return
    assert expected_id is not None, ("a CALLRESULT to a frame that is not a CALL", raw, answer)
    action = _action(raw)
    assert len(answer) == 3 and isinstance(answer[2], dict), answer
    if action in VALID:
        validator = get_validator(MessageType.CallResult, action, "1.6")
        validator.validate(answer[2])


class Tally:
    frames = 0
    sessions = 0


async def _run_session(http: aiohttp.ClientSession, url: str, station: str,
                       batch: list[str | bytes]) -> None:
    """Pipeline ``batch`` on one connection (with probes), then check every answer."""
    plan: list[tuple[str | bytes, str]] = []
    async with http.ws_connect(url + station, protocols=("ocpp1.6",), max_msg_size=0,
                               heartbeat=None) as ws:
        for n, raw in enumerate(batch):
            if isinstance(raw, bytes):
                await ws.send_bytes(raw)
            else:
                await ws.send_str(raw)
            if _is_answer(raw):
                # Perhaps unanswered: a probe marks where this frame's answers end.
                probe = f"probe-{n}"
                await ws.send_str(json.dumps([2, probe, "Heartbeat", {}]))
                plan.append((raw, probe))
            else:
                plan.append((raw, ""))
        for raw, probe in plan:
            expected = _call_shaped(raw)
            if probe:
                while True:
                    answer = json.loads(await ws.receive_str(timeout=20))
                    if answer[1] == probe:
                        assert answer[0] == 3, answer
                        break
                    _check_answer(raw, answer, None)
                    assert answer[0] == 4, ("an answer to nothing got a CALLRESULT", raw)
            else:
                _check_answer(raw, json.loads(await ws.receive_str(timeout=20)), expected)
    Tally.frames += len(batch)
    Tally.sessions += 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_ten_thousand_hostile_frames(database_url: str, tmp_path: Path) -> None:
    # Rate limiting has its own test; here every frame must reach the frame handling.
    hub = LoggedHubProcess(database_url, free_port(), tmp_path / "hub.log", "--dev",
                           env={"PNC_HUB_OCPP__RATE_LIMIT": "0",
                                "PNC_HUB_DATABASE__SQLITE_SYNCHRONOUS": "NORMAL"},
                           log_level="INFO")
    url = f"ws://127.0.0.1:{hub.port}/ocpp/"
    Tally.frames = Tally.sessions = 0
    # Draw every session's frames first, in this thread, then run the sessions. (Drawing in a
    # worker thread beside the running loop aborted the test process twice in ~25 runs.)
    batches: list[list[str | bytes]] = []

    # No shrinking: each example is a live session against a process that keeps state, and
    # the failing frame is in the assertion message already.
    @settings(max_examples=SESSIONS, deadline=None, database=None, derandomize=True,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(st.lists(frames, min_size=FRAMES_PER_SESSION, max_size=FRAMES_PER_SESSION))
    def draw(batch: list[str | bytes]) -> None:
        batches.append(batch)

    draw()
    await hub.start()
    # At most 4 sessions at once, and never two at once on one station id (a second
    # connection would replace the first).
    gate = asyncio.Semaphore(4)

    async def session(http: aiohttp.ClientSession, station: str,
                      batch: list[str | bytes]) -> None:
        async with gate:
            await _run_session(http, url, station, batch)

    try:
        async with aiohttp.ClientSession() as http:
            await asyncio.gather(*(session(http, f"FUZZ-{i % STATION_POOL}", batch)
                                   for i, batch in enumerate(batches)))
            assert hub.proc is not None and hub.proc.poll() is None, "the hub died"
            assert Tally.frames >= 10_000, Tally.frames
            # Still serving: a well-behaved station after the storm of garbage.
            async with http.ws_connect(url + "FUZZ-AFTER", protocols=("ocpp1.6",)) as ws:
                await ws.send_str(json.dumps([2, "boot", "BootNotification",
                                              VALID["BootNotification"]]))
                answer = json.loads(await ws.receive_str(timeout=10))
                assert answer[:2] == [3, "boot"] and answer[2]["status"] == "Accepted"
    finally:
        hub.terminate()
    assert hub.unhandled_errors() == []

"""The compiled schema check in framing.py may only ever say "valid" where the ocpp package's
jsonschema validator (the authority) agrees; valid payloads must take it (else it is no fast path).
Checked on real payloads and on random mutations of them."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ocpp.messages import MessageType, get_validator

from hub.ocpp_server.framing import _compiled_check

NOW = "2026-11-21T10:00:00Z"
SAMPLES: list[tuple[str, str, dict[str, Any]]] = [
    ("1.6", "BootNotification", {"chargePointVendor": "ACME", "chargePointModel": "W2",
                                 "firmwareVersion": "1.2.3"}),
    ("1.6", "StatusNotification", {"connectorId": 1, "errorCode": "NoError",
                                   "status": "Charging", "timestamp": NOW}),
    ("1.6", "StartTransaction", {"connectorId": 1, "idTag": "TAG-1", "meterStart": 100,
                                 "timestamp": NOW, "reservationId": 7}),
    ("1.6", "MeterValues", {"connectorId": 1, "transactionId": 5, "meterValue": [{
        "timestamp": NOW, "sampledValue": [
            {"value": "1234", "measurand": "Energy.Active.Import.Register", "unit": "Wh",
             "context": "Sample.Periodic"},
            {"value": "16.2", "measurand": "Current.Import", "phase": "L1", "unit": "A"}]}]}),
    ("2.0.1", "TransactionEvent", {
        "eventType": "Updated", "timestamp": NOW, "triggerReason": "MeterValuePeriodic",
        "seqNo": 3, "transactionInfo": {"transactionId": "TX-1", "chargingState": "Charging"},
        "evse": {"id": 1, "connectorId": 1}, "idToken": {"idToken": "AB12", "type": "ISO14443"},
        "meterValue": [{"timestamp": NOW, "sampledValue": [
            {"value": 1234.5, "measurand": "Energy.Active.Import.Register",
             "unitOfMeasure": {"unit": "Wh", "multiplier": 0}}]}]}),
    ("2.0.1", "StatusNotification", {"timestamp": NOW, "connectorStatus": "Occupied",
                                     "evseId": 1, "connectorId": 1}),
    ("2.0.1", "BootNotification", {"reason": "PowerUp", "chargingStation": {
        "model": "W2", "vendorName": "ACME", "firmwareVersion": "1.0"}}),
]


def authority_accepts(version: str, action: str, payload: Any) -> bool:
    validator = get_validator(MessageType.Call, action, version)
    return next(iter(validator.iter_errors(payload)), None) is None


def fast_accepts(version: str, action: str, payload: Any) -> bool:
    return _compiled_check((version, MessageType.Call, action), MessageType.Call, action,
                           version)(payload)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False)
    | st.text(max_size=60) | st.sampled_from(["", "Charging", "Wh", NOW, "1.5"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                   max_size=3),
    max_leaves=6)


@pytest.mark.parametrize(("version", "action", "payload"), SAMPLES,
                         ids=[f"{v}-{a}" for v, a, _ in SAMPLES])
def test_valid_payloads_take_the_fast_path(version: str, action: str, payload: Any) -> None:
    assert authority_accepts(version, action, payload)
    assert fast_accepts(version, action, payload)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_fast_path_never_accepts_what_the_authority_refuses(data: st.DataObject) -> None:
    version, action, sample = data.draw(st.sampled_from(SAMPLES))
    payload = copy.deepcopy(sample)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths(payload)))
        if not path:
            continue
        *head, last = path
        parent = payload
        for step in head:
            parent = parent[step]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[last]
        else:
            parent[last] = data.draw(JSON)
    if fast_accepts(version, action, payload):
        assert authority_accepts(version, action, payload), payload


@pytest.mark.parametrize(("sample", "path", "value"), [
    (4, ("seqNo",), 3.0),            # an integral float is no draft-4 integer
    (2, ("meterStart",), True),      # a bool is no integer
    (4, ("meterValue", 0, "sampledValue", 0, "value"), True),  # nor a number
    (2, ("idTag",), "T" * 21),       # IdToken is a CiString20
    (0, ("chargePointVendor",), "x" * 21),  # CiString20
    (6, ("extra",), 1),              # additionalProperties: false
])
def test_edge_values_are_judged_alike(sample: int, path: tuple[Any, ...], value: Any) -> None:
    version, action, payload = SAMPLES[sample]
    payload = copy.deepcopy(payload)
    parent = payload
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    assert fast_accepts(version, action, payload) == authority_accepts(version, action, payload)
    assert not authority_accepts(version, action, payload)

"""The pure mapping rules between 2.0.1 and the core (no socket, no database)."""

from __future__ import annotations

import pytest

from hub.services.device_model import InvalidKey, VariableRef, parse_key
from hub.services.evse_status import core_status, evse_status
from hub.services.id_tokens import guess_id_token_type
from hub.services.transaction_events import core_meter_values, scaled_value


@pytest.mark.parametrize(("connectors", "expected"), [
    (["Available"], "Available"),
    (["Available", "Occupied"], "Occupied"),
    (["Faulted", "Available"], "Available"),
    (["Faulted", "Unavailable"], "Unavailable"),
    (["Reserved", "Available"], "Reserved"),
    ([], None),
])
def test_an_evse_shows_its_most_telling_connector(connectors: list[str],
                                                  expected: str | None) -> None:
    assert evse_status(connectors) == expected


@pytest.mark.parametrize(("evse", "active", "state", "current", "ended", "expected"), [
    ("Available", False, None, None, False, "Available"),
    ("Faulted", True, "Charging", "Charging", False, "Faulted"),
    ("Occupied", False, None, None, False, "Preparing"),
    ("Occupied", True, None, "Preparing", False, "Preparing"),
    ("Occupied", True, "EVConnected", None, False, "Preparing"),
    ("Occupied", True, "Charging", None, False, "Charging"),
    ("Occupied", True, "SuspendedEVSE", None, False, "SuspendedEVSE"),
    (None, True, "SuspendedEV", None, False, "SuspendedEV"),
    ("Occupied", False, "Charging", "Charging", True, "Finishing"),
    ("Occupied", False, None, "Finishing", False, "Finishing"),
    (None, False, None, "Charging", True, "Finishing"),
    (None, False, None, None, False, None),
])
def test_occupied_is_refined_like_a_1_6_charger_reports_it(
        evse: str | None, active: bool, state: str | None, current: str | None, ended: bool,
        expected: str | None) -> None:
    assert core_status(evse, active=active, charging_state=state, current=current,
                       ended_now=ended) == expected


@pytest.mark.parametrize("key", [
    "OCPPCommCtrlr.HeartbeatInterval", "OCPPCommCtrlr.MessageAttempts:TransactionEvent",
    "EVSE@1.AvailabilityState", "Connector@1:2.AvailabilityState",
    "SampledDataCtrlr:main.TxUpdatedMeasurands:x",
])
def test_device_model_keys_round_trip(key: str) -> None:
    ref = parse_key(key)
    assert ref.key() == key
    ocpp = ref.ocpp()
    assert VariableRef.of(ocpp["component"], ocpp["variable"]) == ref


def test_1_6_keys_map_to_standard_variables() -> None:
    assert parse_key("HeartbeatInterval").ocpp() == {
        "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
    assert parse_key("TransactionMessageAttempts").variable_instance == "TransactionEvent"
    for bad in ("NoSuchKey", ".x", "x.", "EVSE@one.AvailabilityState"):
        with pytest.raises(InvalidKey):
            parse_key(bad)


def test_sampled_values_are_stored_with_the_multiplier_applied() -> None:
    assert scaled_value(1.5, 3) == "1500"
    assert scaled_value(13, 2) == "1300"
    assert scaled_value(7200.5, 0) == "7200.5"
    assert scaled_value(123, -1) == "12.3"
    assert scaled_value(1e300, 0) == "1E+300"  # fits the column instead of 301 digits
    [entry] = core_meter_values([{"timestamp": "t", "sampled_value": [
        {"value": 2, "unit_of_measure": {"unit": "kWh", "multiplier": 1}, "phase": "L2"},
        {"value": 5}]}])
    assert entry["sampled_value"] == [
        {"value": "20", "context": None, "measurand": None, "phase": "L2", "location": None,
         "unit": "kWh"},
        {"value": "5", "context": None, "measurand": None, "phase": None, "location": None,
         "unit": None}]


@pytest.mark.parametrize(("tag", "kind"), [
    ("DE-ABC-C12345678-X", "eMAID"), ("DEABCC12345678X", "eMAID"), ("04A1B2C3", "ISO14443"),
    ("04A1B2C3D4E5F6", "ISO14443"), ("E0040100AABBCCDD", "ISO15693"), ("GOOD", "Central"),
])
def test_id_token_type_of_a_1_6_tag(tag: str, kind: str) -> None:
    assert guess_id_token_type(tag) == kind

"""What crosses nodes as bytes (hub/cluster/codec.py): OCPP requests and answers of both
versions, typed failures, events; nothing outside the OCPP message modules is rebuilt."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from ocpp.v16 import call, call_result
from ocpp.v16.enums import ResetType
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as call_result201

from hub.cluster import codec
from hub.cluster.presence import station_key, station_of_key
from hub.commands import CallError, CallTimeout, CommandFailed, StationOffline
from hub.events import MeterValuesReceived, TransactionStarted


def test_requests_of_both_versions_round_trip() -> None:
    requests = [
        call.Reset(type=ResetType.hard),
        call.SetChargingProfile(connector_id=1, cs_charging_profiles={
            "charging_profile_id": 7, "stack_level": 1, "charging_profile_purpose": "TxProfile",
            "charging_profile_kind": "Absolute", "charging_schedule": {
                "charging_rate_unit": "A", "charging_schedule_period": [
                    {"start_period": 0, "limit": 16.0}]}}),
        call201.RequestStartTransaction(id_token={"id_token": "TAG", "type": "ISO14443"},
                                        remote_start_id=3, evse_id=1),
    ]
    for request in requests:
        station, rebuilt, timeout = codec.decode_call(codec.encode_call("CP-1", request, 7.5))
        assert (station, timeout, type(rebuilt)) == ("CP-1", 7.5, type(request))
        assert orjson.dumps(codec._describe(rebuilt)) == orjson.dumps(codec._describe(request))


def test_answers_and_failures_come_back_typed() -> None:
    answer = codec.decode_answer("CP-1", codec.encode_answer(
        call_result201.GetVariables(get_variable_result=[{
            "attribute_status": "Accepted", "component": {"name": "OCPPCommCtrlr"},
            "variable": {"name": "HeartbeatInterval"}, "attribute_value": "300"}])))
    assert isinstance(answer, call_result201.GetVariables)
    assert answer.get_variable_result[0]["attribute_value"] == "300"
    assert codec.decode_answer("CP-1", codec.encode_answer(
        call_result.Reset(status="Rejected"))) == call_result.Reset(status="Rejected")

    with pytest.raises(CallError) as error:
        codec.decode_answer("CP-1", codec.encode_failure(
            CallError("CP-9", "Reset", "NotSupported", "no", {"why": "old firmware"})))
    assert (error.value.station_id, error.value.code, error.value.details) == (
        "CP-1", "NotSupported", {"why": "old firmware"})
    with pytest.raises(CallTimeout) as timeout:
        codec.decode_answer("CP-1", codec.encode_failure(CallTimeout("CP-1", "Reset", 4.0)))
    assert timeout.value.timeout == 4.0
    with pytest.raises(StationOffline):
        codec.decode_answer("CP-1", codec.encode_failure(StationOffline("CP-1")))
    with pytest.raises(CommandFailed, match="boom"):
        codec.decode_answer("CP-1", codec.encode_failure(RuntimeError("boom")))


def test_only_ocpp_messages_are_rebuilt() -> None:
    for module, name in (("os", "system"), ("hub.config", "Config"),
                         ("ocpp.v16.call", "NoSuchAction")):
        message = orjson.dumps({"station": "CP-1", "timeout": 1, "request": {
            "module": module, "class": name, "fields": {}}})
        with pytest.raises(codec.MessageRefused):
            codec.decode_call(message)
    with pytest.raises(codec.MessageRefused):
        codec.decode_call(b"not json")


def test_events_round_trip() -> None:
    at = datetime(2026, 12, 5, 21, 0, tzinfo=UTC)
    for event in (TransactionStarted(station_id="CP-1", transaction_id=4, connector_id=1,
                                     id_tag="TAG", meter_start=10, timestamp=at),
                  MeterValuesReceived(station_id="CP-2", connector_id=1, transaction_id=None,
                                      samples=({"value": "1", "measurand": "Current.Import"},))):
        origin, rebuilt = codec.decode_event(codec.encode_event("node-a", event))
        assert origin == "node-a" and rebuilt == event
    with pytest.raises(codec.MessageRefused):
        codec.decode_event(orjson.dumps({"origin": "x", "type": "Config", "fields": {}}))


def test_station_keys_are_safe_and_reversible() -> None:
    for station_id in ("CP-1", "DE*ABC:E1", "a.b_c=d", "Ladestation-Ä"):
        key = station_key(station_id)
        assert all(c.isascii() and (c.isalnum() or c in "-_=") for c in key)
        assert station_of_key(key) == station_id
    assert station_key("a=3D") != station_key("a==")

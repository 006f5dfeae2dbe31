"""The seeds' field names and types, as the tests check them.

ChargePilot and Flatpeak publish field tables; Flipturn publishes a TypeScript type and an example
response. The tables are restated here (names and JSON types only); the Flipturn example is read
from ../shared/seeds when that folder is present.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

SEEDS = Path(__file__).resolve().parents[3] / "shared" / "seeds"
if not SEEDS.is_dir():
    SEEDS = Path("/work/shared/seeds")

# ChargePilot (seed 000): JSON types per the tables (string, number, object, array, boolean,
# number[]).
CHARGEPILOT_SITE = {"id": "string", "name": "string", "timezone": "string",
                    "local_controller": "object", "fuse_tree": "array"}
CHARGEPILOT_LOCAL_CONTROLLER = {"id": "string", "name": "string", "serial_no": "string",
                                "device_id": "string"}
CHARGEPILOT_NODE = {"type": "string", "parameters": "object", "children": "array"}
CHARGEPILOT_PARAMETERS = {
    "name": "string", "limit": "number", "inbound_limit": "number", "outbound_limit": "number",
    "fallback": "number", "pending_fallback_value": "number", "fallback_status": "string",
    "order": "number", "depth": "string", "fuse_id": "string", "firmware_version": "string",
    "additional_comments": "string", "meter": "object", "connectors": "array"}
CHARGEPILOT_METER = {
    "is_producer": "boolean", "producer_name": "string", "producer_current": "number",
    "is_consumer": "boolean", "consumer_name": "string", "max_possible_current": "number",
    "fallback_value": "number", "primary_transformer_ratio": "number",
    "secondary_transformer_ratio": "number"}
CHARGEPILOT_CONNECTOR = {
    "id": "string", "name": "string", "connector_id": "string",
    "charging_station_id": "string", "priority": "number", "charging_capability": "number[]",
    "discharge_capability": "number[]"}

# Flatpeak (seed 002): the list envelope and the site object of its example.
FLATPEAK_LIST = {"object": "string", "url": "string", "has_more": "boolean", "data": "array"}
FLATPEAK_SITE = {"id": "string", "object": "string", "live_mode": "boolean",
                 "status": "string", "devices": "array", "time_created": "string",
                 "account_id": "string"}
FLATPEAK_DEVICE = {"id": "string", "manufacturer": "string", "model_code": "string",
                   "model_name": "string", "time_created": "string", "properties": "object",
                   "last_seen": "string"}
FLATPEAK_DEVICE_PROPERTIES = {"power_rating_import_kwh": "number", "capacity_kwh": "number",
                              "power_rating_export_kwh": "number"}

# Flipturn (seed 001): the TypeScript type's keys, nested; "?" marks `| null`.
FLIPTURN_TYPE: dict[str, Any] = {
    "id": "number", "name": "string", "address": "string?", "timezone": "string",
    "organization": {"id": "number", "name": "string"},
    "chargers": [{
        "id": "number", "name": "string", "manufacturer": "string?", "model": "string?",
        "serialNumber": "string?", "firmwareVersion": "string?", "latitude": "number?",
        "longitude": "number?", "externalId": "string?", "ocppId": "string?",
        "type": "string", "powerSharing": "boolean",
        "connectionStatus": {"?": True, "status": "string", "timestamp": "string"},
        "numberOfPorts": "number",
        "ports": [{
            "id": "number", "name": "string", "portNumber": "number",
            "maximumPowerKw": "number?", "connectorType": "string",
            "ocppStatus": {"?": True, "status": "string", "timestamp": "string",
                           "errorCode": "string", "vendorErrorCode": "string?",
                           "info": "string?"},
            "currentChargingSession": {
                "?": True, "id": "number", "startTime": "string",
                "socStartPercent": "number?", "energyDeliveredKwh": "number",
                "ocppIdTag": "string?", "ocppTransactionId": "number?",
                "latestReadings": {
                    k: {"?": True, "value": "number", "timestamp": "string"}
                    for k in ("powerKw", "currentA", "socPercent", "voltage")},
                "vehicle": {"?": True, "id": "number", "make": "string?", "model": "string?",
                            "name": "string", "vin": "string?"},
                "rfid": {"?": True, "id": "number", "name": "string?"},
                "customer": {"?": True, "name": "string"},
            },
        }],
    }],
}


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        if value and all(json_type(v) == "number" for v in value):
            return "number[]"
        return "array"
    return "object"


def assert_fields(obj: dict[str, Any], table: dict[str, str], where: str) -> None:
    """Every field of ``table`` is present in ``obj`` with the table's JSON type."""
    for name, expected in table.items():
        assert name in obj, f"{where}: missing {name}"
        actual = json_type(obj[name])
        if expected == "number[]":
            assert actual in ("number[]", "array") and all(
                json_type(v) == "number" for v in obj[name]), f"{where}.{name}: {obj[name]!r}"
        elif expected == "array":
            assert actual in ("array", "number[]"), f"{where}.{name}: {actual}"
        else:
            assert actual == expected, f"{where}.{name}: {actual}, seed says {expected}"


def assert_flipturn_shape(value: Any, shape: Any, where: str = "data[]") -> None:
    """``value`` has exactly the TypeScript type's keys, with its types (null where allowed)."""
    if isinstance(shape, list):
        assert isinstance(value, list), where
        for i, item in enumerate(value):
            assert_flipturn_shape(item, shape[0], f"{where}[{i}]")
        return
    if isinstance(shape, dict):
        if value is None:
            assert shape.get("?"), f"{where} must not be null"
            return
        assert isinstance(value, dict), where
        keys = {k for k in shape if k != "?"}
        assert set(value) == keys, f"{where}: {sorted(set(value) ^ keys)}"
        for key in keys:
            assert_flipturn_shape(value[key], shape[key], f"{where}.{key}")
        return
    nullable = shape.endswith("?")
    if value is None:
        assert nullable, f"{where} must not be null"
        return
    assert json_type(value) == shape.rstrip("?"), f"{where}: {value!r} is not {shape}"


def flipturn_example() -> dict[str, Any] | None:
    """The example response of seed 001, or None when the seeds are not on this machine."""
    files = sorted(SEEDS.glob("001_*"))
    if not files:
        return None
    text = files[0].read_text()
    found = re.search(r"Response:\s*```js\s*(\{.*?\n\})\s*```", text, re.S)
    return json.loads(found.group(1)) if found else None


def assert_same_types(ours: Any, theirs: Any, where: str = "") -> None:
    """Every key of the seed's example exists in ours with the same JSON type."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict), where
        for key, value in theirs.items():
            assert key in ours, f"{where}.{key} missing"
            if value is not None and ours[key] is not None:
                assert_same_types(ours[key], value, f"{where}.{key}")
    elif isinstance(theirs, list):
        assert isinstance(ours, list), where
        if theirs and ours:
            assert_same_types(ours[0], theirs[0], f"{where}[0]")
    else:
        assert json_type(ours) == json_type(theirs), f"{where}: {ours!r} vs {theirs!r}"

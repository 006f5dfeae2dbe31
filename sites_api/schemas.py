"""JSON schemas of the Sites API's responses, for the OpenAPI document (and the tests, which
validate real responses against them)."""

from __future__ import annotations

from typing import Any

from sites_api.inputs import component_schemas
from sites_api.models import CHARGER_TYPES, CONNECTOR_TYPES, POWER_TYPES

REF = "#/components/schemas/"


def _obj(properties: dict[str, Any], nullable: bool = False) -> dict[str, Any]:
    schema = {"type": ["object", "null"] if nullable else "object",
              "required": list(properties), "properties": properties}
    return schema


def _t(kind: str, nullable: bool = False, **extra: Any) -> dict[str, Any]:
    return {"type": [kind, "null"] if nullable else kind, **extra}


TIME = {"type": "string", "format": "date-time"}
TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
READING = _obj({"value": _t("number"), "timestamp": TIME}, nullable=True)

SESSION = _obj({
    "id": _t("string"),
    "start_time": TIME,
    "soc_start_percent": _t("number", True),
    "energy_delivered_kwh": _t("number"),
    "ocpp_id_tag": _t("string", True),
    "ocpp_transaction_id": _t("integer", True),
    "latest_readings": _obj({"power_kw": READING, "current_a": READING,
                             "soc_percent": READING, "voltage": READING}),
    "vehicle": _obj({"id": _t("string"), "make": _t("string", True),
                     "model": _t("string", True), "name": _t("string"),
                     "vin": _t("string", True)}, nullable=True),
    "rfid": _obj({"id": _t("string"), "name": _t("string", True)}, nullable=True),
    "customer": _obj({"name": _t("string")}, nullable=True),
    "cost": _obj({"currency": _t("string"), "net": _t("number"),
                  "total": _t("number", description="including tax")}, nullable=True),
}, nullable=True)

PORT = _obj({
    "id": _t("string"),
    "name": _t("string"),
    "port_number": _t("integer", description="the OCPP connector id"),
    "maximum_power_kw": _t("number", True),
    "connector_type": _t("string", enum=list(CONNECTOR_TYPES)),
    "plug": _t("string", True, description="OICP Plugs value of connector_type"),
    "power_type": _t("string", True, enum=[*POWER_TYPES, None]),
    "evse_id": _t("string", True, description="OICP EvseID"),
    "ocpp_status": _obj({"status": _t("string"), "timestamp": TIME_OR_NULL,
                         "error_code": _t("string"), "vendor_error_code": _t("string", True),
                         "info": _t("string", True)}, nullable=True),
    "current_charging_session": SESSION,
})

CHARGER = _obj({
    "id": _t("string"),
    "name": _t("string"),
    "manufacturer": _t("string", True),
    "model": _t("string", True),
    "serial_number": _t("string", True),
    "firmware_version": _t("string", True),
    "latitude": _t("number", True),
    "longitude": _t("number", True),
    "external_id": _t("string", True),
    "ocpp_id": _t("string", True),
    "type": _t("string", enum=list(CHARGER_TYPES)),
    "power_sharing": _t("boolean"),
    "connection_status": _obj({"status": _t("string", enum=["Connected", "Disconnected"]),
                               "timestamp": TIME_OR_NULL}, nullable=True),
    "number_of_ports": _t("integer"),
    "ports": {"type": "array", "items": {"$ref": REF + "Port"}},
})

METER = _obj({
    "is_producer": _t("boolean", True), "producer_name": _t("string", True),
    "producer_current": _t("number", True), "is_consumer": _t("boolean", True),
    "consumer_name": _t("string", True), "max_possible_current": _t("number", True),
    "fallback_value": _t("number", True), "primary_transformer_ratio": _t("number", True),
    "secondary_transformer_ratio": _t("number", True), "mqtt_topic": _t("string", True),
}, nullable=True)

# What the load manager knows now (sites_api.load.live): per node in ``parameters.live``,
# per tree connector in ``live``, and in GET /sites/{id}/load.
LIVE_NUMBERS = {"type": "array", "items": {"type": ["number", "null"]}, "minItems": 3,
                "maxItems": 3, "examples": [[16.0, 16.0, 16.0]],
                "description": "per phase L1, L2, L3 (A)"}
METER_READING = {
    "type": ["object", "null"], "description": "the node meter's last reading (null: none)",
    "properties": {
        "value": {"type": ["number", "array"], "items": {"type": "number"},
                  "description": "A (raw, before the transformer ratio)"},
        "received_at": {"type": "string"}, "source": {"type": "string"},
        "age_seconds": {"type": "number", "description": "how old the reading is"},
        "stale": {"type": "boolean",
                  "description": "older than [load] meter_max_age: the meter's fallback_value is "
                                 "planned instead"}}}
NODE_LIVE = {"type": "object", "required": ["planned", "measured", "meter"], "properties": {
    "planned": LIVE_NUMBERS, "measured": LIVE_NUMBERS, "meter": METER_READING}}
CONNECTOR_LIVE = {
    "type": "object",
    "required": ["state", "planned", "limit_sent", "acknowledged", "status", "measured"],
    "properties": {
        "state": {"type": "string", "enum": ["charging", "queued", "idle", "fixed"]},
        "phases": {"type": "array", "items": {"type": "integer"}},
        "planned": {"type": "number"}, "limit_sent": {"type": ["number", "null"]},
        "acknowledged": {"type": "boolean"}, "status": {"type": ["string", "null"]},
        "sent_at": {"type": ["string", "null"]}, "measured": LIVE_NUMBERS,
        "demand": {"type": ["number", "null"],
                   "description": "what the car settled at plus the margin (A); null: as much "
                                  "as it may get"}}}


NODE_CONNECTOR = _obj({
    "id": _t("string"), "name": _t("string", True), "connector_id": _t("string"),
    "charging_station_id": _t("string"), "priority": _t("number", True),
    "charging_capability": {"type": "array", "items": {"type": "number"}},
    "discharge_capability": {"type": "array", "items": {"type": "number"}},
    "phases": {"type": ["array", "null"], "items": {"type": "string", "enum": ["L1", "L2", "L3"]},
               "description": "site phases the outlet draws on; null = all three"},
    "live": {**CONNECTOR_LIVE, "type": ["object", "null"],
             "description": "the load manager's plan, the limit sent and its answer, what was "
                            "measured; null when the manager holds no plan of the site"},
})

FUSE_NODE = _obj({
    "id": _t("string"),
    "type": _t("string"),
    "parameters": _obj({
        "name": _t("string", True), "limit": _t("number", True),
        "inbound_limit": _t("number", True), "outbound_limit": _t("number", True),
        "fallback": _t("number", True), "pending_fallback_value": _t("number", True),
        "fallback_status": _t("string", True), "order": _t("number"), "depth": _t("string"),
        "fuse_id": _t("string", True), "firmware_version": _t("string", True),
        "additional_comments": _t("string", True), "meter": {"$ref": REF + "Meter"},
        "connectors": {"type": "array", "items": {"$ref": REF + "FuseNodeConnector"}},
        "live": {**NODE_LIVE, "type": ["object", "null"],
                 "description": "planned and measured current per phase and the meter's last "
                                "reading; null when the load manager holds no plan of the site; "
                                "not stored (the site's version does not move with it)"},
    }),
    "children": {"type": "array", "items": {"$ref": REF + "FuseNode"}},
})

DEVICE = _obj({
    "id": _t("string"), "manufacturer": _t("string", True), "model_code": _t("string", True),
    "model_name": _t("string", True), "time_created": TIME_OR_NULL,
    "properties": _obj({"power_rating_import_kwh": _t("number", True),
                        "capacity_kwh": _t("number", True),
                        "power_rating_export_kwh": _t("number", True)}),
    "last_seen": TIME_OR_NULL,
})

SITE = _obj({
    "id": _t("string"),
    "object": _t("string", const="site"),
    "live_mode": _t("boolean"),
    "name": _t("string"),
    "reference_id": _t("string", True),
    "status": _t("string"),
    "timezone": _t("string", description="IANA time zone"),
    "address": _t("string", True),
    "street": _t("string", True),
    "house_number": _t("string", True),
    "postal_code": _t("string", True),
    "city": _t("string", True),
    "region": _t("string", True),
    "country": _t("string", True, description="ISO 3166-1 alpha-3"),
    "latitude": _t("number", True),
    "longitude": _t("number", True),
    "organization": _obj({"id": _t("string"), "name": _t("string")}),
    "account_id": _t("string"),
    "local_controller": _obj({"id": _t("string"), "name": _t("string"),
                              "serial_no": _t("string", True),
                              "device_id": _t("string", True)}, nullable=True),
    "fuse_tree": {"type": "array", "items": {"$ref": REF + "FuseNode"}},
    "chargers": {"type": "array", "items": {"$ref": REF + "Charger"}},
    "devices": {"type": "array", "items": {"$ref": REF + "Device"}},
    "time_created": TIME,
    "time_updated": TIME,
    "version": _t("integer", description="grows with every write; the ETag"),
})

SITE_LIST = _obj({
    "object": _t("string", const="list"),
    "url": _t("string"),
    "has_more": _t("boolean"),
    "data": {"type": "array", "items": {"$ref": REF + "Site"}},
})


def _flipturn() -> dict[str, Any]:
    reading = _obj({"value": _t("number"), "timestamp": TIME}, nullable=True)
    session = _obj({
        "id": _t("integer"), "startTime": TIME, "socStartPercent": _t("number", True),
        "energyDeliveredKwh": _t("number"), "ocppIdTag": _t("string", True),
        "ocppTransactionId": _t("integer", True),
        "latestReadings": _obj({"powerKw": reading, "currentA": reading,
                                "socPercent": reading, "voltage": reading}),
        "vehicle": _obj({"id": _t("integer"), "make": _t("string", True),
                         "model": _t("string", True), "name": _t("string"),
                         "vin": _t("string", True)}, nullable=True),
        "rfid": _obj({"id": _t("integer"), "name": _t("string", True)}, nullable=True),
        "customer": _obj({"name": _t("string")}, nullable=True),
    }, nullable=True)
    port = _obj({
        "id": _t("integer"), "name": _t("string"), "portNumber": _t("integer"),
        "maximumPowerKw": _t("number", True), "connectorType": _t("string"),
        "ocppStatus": _obj({"status": _t("string"), "timestamp": TIME_OR_NULL,
                            "errorCode": _t("string"), "vendorErrorCode": _t("string", True),
                            "info": _t("string", True)}, nullable=True),
        "currentChargingSession": session,
    })
    charger = _obj({
        "id": _t("integer"), "name": _t("string"), "manufacturer": _t("string", True),
        "model": _t("string", True), "serialNumber": _t("string", True),
        "firmwareVersion": _t("string", True), "latitude": _t("number", True),
        "longitude": _t("number", True), "externalId": _t("string", True),
        "ocppId": _t("string", True), "type": _t("string", enum=list(CHARGER_TYPES)),
        "powerSharing": _t("boolean"),
        "connectionStatus": _obj({"status": _t("string"), "timestamp": TIME_OR_NULL},
                                 nullable=True),
        "numberOfPorts": _t("integer"), "ports": {"type": "array", "items": port},
    })
    site = _obj({
        "id": _t("integer"), "name": _t("string"), "address": _t("string", True),
        "timezone": _t("string"),
        "organization": _obj({"id": _t("integer"), "name": _t("string")}),
        "chargers": {"type": "array", "items": charger},
    })
    return _obj({"data": {"type": "array", "items": site}})


FLIPTURN_SITES = _flipturn()


def components() -> dict[str, Any]:
    return {"Site": SITE, "SiteList": SITE_LIST, "Charger": CHARGER, "Port": PORT,
            "FuseNode": FUSE_NODE, "FuseNodeConnector": NODE_CONNECTOR, "Meter": METER,
            "Device": DEVICE, "FlipturnSites": FLIPTURN_SITES, **component_schemas()}


def ref(name: str) -> dict[str, Any]:
    return {"$ref": REF + name}

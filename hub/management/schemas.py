"""JSON schemas of the management API's bodies and answers (for the OpenAPI document).

The shapes follow the seed's examples; the fuzz test validates real answers against them, so a
schema here that drifts from what a handler returns fails a test.
"""

from __future__ import annotations

from typing import Any

from hub.openapi import path, query

Schema = dict[str, Any]

STRING: Schema = {"type": "string"}
NULLABLE_STRING: Schema = {"type": ["string", "null"]}
INTEGER: Schema = {"type": "integer"}
NULLABLE_INTEGER: Schema = {"type": ["integer", "null"]}
NUMBER: Schema = {"type": "number"}
NULLABLE_NUMBER: Schema = {"type": ["number", "null"]}
BOOLEAN: Schema = {"type": "boolean"}
TIMESTAMP: Schema = {"type": ["string", "null"], "format": "date-time"}
ANY_OBJECT: Schema = {"type": "object", "additionalProperties": True}
# A file in a body (raw, or a part of a multipart form).
FILE_BODY: Schema = {"type": "string", "contentMediaType": "application/octet-stream"}


def obj(required: list[str] | tuple[str, ...] = (), **properties: Schema) -> Schema:
    """An object with these properties (others allowed: answers may grow)."""
    schema: Schema = {"type": "object", "properties": properties, "additionalProperties": True}
    if required:
        schema["required"] = list(required)
    return schema


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def enum(*values: str) -> Schema:
    return {"type": "string", "enum": list(values)}


EXAMPLE_STATION = "CP-1"
STATION_ID: Schema = {"type": "string", "minLength": 1, "maxLength": 48,
                      "examples": [EXAMPLE_STATION]}
CONNECTOR_ID: Schema = {"type": "integer", "minimum": 0}
TIMEOUT: Schema = {"type": "number", "minimum": 0.1, "maximum": 300,
                   "description": "seconds to wait for the charger (default: ocpp.call_timeout)"}

# -- parameters -------------------------------------------------------------------------------

STATION_QUERY = query("station_id", STATION_ID, required=True, description="OCPP identity")
STATION_PATH = path("station_id", STATION_ID, "OCPP identity")
LIMIT_QUERY = query("limit", {"type": "integer", "minimum": 1, "maximum": 1000},
                    description="page size (default 50)")
OFFSET_QUERY = query("offset", {"type": "integer", "minimum": 0},
                     description="rows to skip (alternative to cursor)")
CURSOR_QUERY = query("cursor", STRING, description="next_cursor of the previous page")
PAGE_QUERIES = [LIMIT_QUERY, CURSOR_QUERY, OFFSET_QUERY]

# -- bodies -----------------------------------------------------------------------------------


def station_body(required: tuple[str, ...] = (), **properties: Schema) -> Schema:
    return obj(("station_id", *required), station_id=STATION_ID, timeout=TIMEOUT, **properties)


STATION_ONLY_BODY = station_body()
CONNECTOR_BODY = station_body(connector_id=CONNECTOR_ID)
CONFIG_VALUE: Schema = {"type": ["string", "number", "boolean"]}
SET_CONFIGURATION_BODY = station_body(("key", "value"), key={"type": "string", "minLength": 1,
                                                             "maxLength": 50},
                                      value=CONFIG_VALUE)
CUSTOM_CONFIGURATION_BODY = station_body(
    key={"type": "string", "maxLength": 50}, value=CONFIG_VALUE,
    payload=obj(("key", "value"), key={"type": "string", "maxLength": 50}, value=CONFIG_VALUE))
AUTHORIZATION_DATA = obj(("idTag",), idTag={"type": "string", "maxLength": 20},
                         idTagInfo=obj(("status",), status=enum(
                             "Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx"),
                             expiryDate=STRING, parentIdTag=STRING))
SEND_LOCAL_LIST_BODY = station_body(
    listVersion={"type": "integer", "minimum": 0},
    updateType=enum("Full", "Differential"),
    localAuthorizationList=array(AUTHORIZATION_DATA),
)
CHANGE_AVAILABILITY_BODY = station_body(("type",), connector_id=CONNECTOR_ID,
                                        type=enum("Operative", "Inoperative"))
RESET_BODY = station_body(type=enum("Soft", "Hard"))
START_BODY = station_body(("id_tag",), id_tag={"type": "string", "maxLength": 36,
                                               "description": "at most 20 for OCPP 1.6"},
                          connector_id={"type": "integer", "minimum": 1},
                          charging_profile=ANY_OBJECT,
                          wait_seconds={"type": "number", "minimum": 0, "maximum": 60})
STOP_BODY = station_body(transaction_id=INTEGER, connector_id=CONNECTOR_ID)
DATA_TRANSFER_BODY = station_body(("vendor_id",), vendor_id={"type": "string", "maxLength": 255},
                                  message_id={"type": "string", "maxLength": 50},
                                  data={"description": "a string, or JSON sent as a string"})

# -- answers ----------------------------------------------------------------------------------

STATUS = obj(["status"], status={"type": "string", "examples": ["Accepted"]})
CONFIGURATION_KEY = obj(["key"], key=STRING, readonly=BOOLEAN, value=NULLABLE_STRING)
GET_CONFIGURATION = obj(["status", "configurationKey", "unknownKey"], status=STRING,
                        configurationKey=array(CONFIGURATION_KEY), unknownKey=array(STRING))
LATENCY = obj(["p50", "p90", "p99"], p50=NULLABLE_NUMBER, p90=NULLABLE_NUMBER,
              p99=NULLABLE_NUMBER, max=NULLABLE_NUMBER, samples=INTEGER)
ACTION_STATS = obj(["count", "success", "errors", "latency_ms"], count=INTEGER, success=INTEGER,
                   errors=INTEGER, latency_ms=LATENCY, last_error=NULLABLE_STRING)
CONNECTOR = obj(["connector_id", "status"], connector_id=INTEGER, status=NULLABLE_STRING,
                error_code=NULLABLE_STRING, availability=NULLABLE_STRING,
                current_transaction_id=NULLABLE_INTEGER, status_timestamp=TIMESTAMP)
LIVE_STATION = obj(["station_id", "ocpp_version", "connected_at", "last_seen"],
                   station_id=STRING, ocpp_version=STRING, connected_at=TIMESTAMP,
                   last_seen=TIMESTAMP, remote=NULLABLE_STRING)
DETAILED_STATION = obj(["station_id", "connectors"], station_id=STRING,
                       connectors=array(CONNECTOR), vendor=NULLABLE_STRING,
                       model=NULLABLE_STRING, firmware_version=NULLABLE_STRING,
                       boot_status=NULLABLE_STRING)
SESSION = obj(["id", "transaction_id", "station_id", "connector_id", "status"],
              id=INTEGER, transaction_id=INTEGER, station_id=STRING, connector_id=INTEGER,
              id_tag=NULLABLE_STRING, status=STRING, start_timestamp=TIMESTAMP,
              stop_timestamp=TIMESTAMP, meter_start=NULLABLE_INTEGER,
              meter_stop=NULLABLE_INTEGER, energy_wh=NULLABLE_INTEGER,
              stop_reason=NULLABLE_STRING)
METER_SAMPLE = obj(["timestamp", "connector_id", "measurand", "value"], timestamp=TIMESTAMP,
                   connector_id=INTEGER, transaction_id=NULLABLE_INTEGER, measurand=STRING,
                   value=STRING, numeric_value=NULLABLE_NUMBER, unit=NULLABLE_STRING,
                   phase=NULLABLE_STRING, location=NULLABLE_STRING)
TOKEN = obj(["uid", "id_tag", "blocked", "valid"], uid=STRING, id_tag=STRING,
            parent_id_tag=NULLABLE_STRING, expiry_date=TIMESTAMP, blocked=BOOLEAN,
            valid=BOOLEAN, last_updated=TIMESTAMP)
WALLBOX = obj(["station_id", "registration_status", "has_password", "connected"],
              station_id=STRING, registration_status=STRING, has_password=BOOLEAN,
              connected=BOOLEAN, ocpp_version=NULLABLE_STRING, vendor=NULLABLE_STRING,
              model=NULLABLE_STRING, firmware_version=NULLABLE_STRING, last_seen=TIMESTAMP,
              created_at=TIMESTAMP)
PAGE = {"limit": INTEGER, "total": INTEGER, "next_cursor": NULLABLE_STRING,
        "offset": NULLABLE_INTEGER}

# Errors a command route can end in besides 400/401/403.
def error(description: str) -> Schema:
    return {"description": description, "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def text_or_json(text_example: str, schema: Schema) -> dict[str, Schema]:
    """The answer of the seed's GET-style routes: plain text, JSON when Accept asks for it."""
    return {"200": {"description": "plain text (the seed's answer); JSON with "
                                   "`Accept: application/json`",
                    "content": {"text/plain": {"schema": STRING, "example": text_example},
                                "application/json": {"schema": schema}}}}


COMMAND_ERRORS = {
    "404": error("unknown station"),
    "409": error("station offline (or speaks another OCPP version)"),
    "502": error("the charger answered with a CALLERROR (code in the body)"),
    "504": error("the charger did not answer in time"),
}
NOT_FOUND = {"404": error("not found")}
CONFLICT = {"409": error("conflict with the current state")}
TOKEN_INPUT = obj(["uid"], uid={"type": "string", "minLength": 1, "maxLength": 36},
                  parent_id_tag={"type": ["string", "null"], "maxLength": 36},
                  expiry_date={"type": ["string", "null"], "format": "date-time"},
                  blocked=BOOLEAN, valid=BOOLEAN)
SESSION_INPUT = obj(
    id={"type": "integer", "minimum": 1, "description": "an existing session: stop it"},
    station_id=STATION_ID, connector_id={"type": "integer", "minimum": 1},
    id_tag={"type": "string", "maxLength": 36}, meter_start=INTEGER,
    start_timestamp={"type": "string", "format": "date-time"},
    status=enum("active", "completed"), meter_stop=INTEGER,
    stop_timestamp={"type": "string", "format": "date-time"},
    stop_reason={"type": "string", "maxLength": 32})

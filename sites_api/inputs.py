"""Request bodies of the write API: their specs (validation + OpenAPI) and nested parsing.

Shape checks happen here, without the database; references to stations and connectors are
checked by ``sites_api.writes`` inside the write's transaction.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from hub.errors import bad_request
from sites_api.fields import F, check_value, field_name, json_schema, parse
from sites_api.models import (
    CHARGER_TYPES,
    CONNECTOR_TYPES,
    EVSE_ID_PATTERN,
    PHASE_NAMES,
    POWER_TYPES,
    SITE_STATUSES,
)

MAX_TREE_NODES = 1000
MAX_TREE_DEPTH = 16
MAX_CHARGERS = 500
MAX_PORTS = 32


def _check_phases(value: list[Any]) -> str | None:
    if not value or len(value) > 3 or len(set(map(str, value))) != len(value) or any(
            v not in PHASE_NAMES for v in value):
        return "must be 1 to 3 distinct phases of " + ", ".join(PHASE_NAMES)
    return None


def _check_topic(value: str) -> str | None:
    if any(c in value for c in "+#\x00"):
        return "must be one topic, without wildcards (+, #)"
    return None


@cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _check_timezone(value: str) -> str | None:
    if value in _timezones():
        return None
    return "must be an IANA time zone name, e.g. Europe/Berlin"


COUNTRY = re.compile(r"^[A-Z]{3}$")
LAT = {"minimum": -90.0, "maximum": 90.0}
LON = {"minimum": -180.0, "maximum": 180.0}

SITE_FIELDS: dict[str, F] = {
    "name": F("str", required=True, max_len=200),
    "reference_id": F("str", max_len=100, description="your own reference; filter on it"),
    "status": F("str", choices=SITE_STATUSES),
    "timezone": F("str", max_len=64, check=_check_timezone, description="IANA name; default UTC"),
    "address": F("str", max_len=300,
                 description="one-line address; composed from the parts when absent"),
    "street": F("str", max_len=100),
    "house_number": F("str", max_len=10),
    "postal_code": F("str", max_len=10),
    "city": F("str", max_len=50),
    "region": F("str", max_len=50, description="state / province"),
    "country": F("str", pattern=COUNTRY, description="ISO 3166-1 alpha-3, e.g. DEU",
                 example="DEU"),
    "latitude": F("number", **LAT),
    "longitude": F("number", **LON),
}
SITE_CREATE_FIELDS: dict[str, F] = {
    **SITE_FIELDS,
    "organization_id": F("str", max_len=64, description="organisation key; an organisation "
                         "token's own by default, required with an admin token"),
    "organization_name": F("str", max_len=200, description="name of a new organisation"),
    "local_controller": F("object"),
    "fuse_tree": F("array", items={"items": {"$ref": "#/components/schemas/FuseNodeInput"}}),
    "chargers": F("array", items={"items": {"$ref": "#/components/schemas/ChargerInput"}}),
}

LOCAL_CONTROLLER_FIELDS: dict[str, F] = {
    "id": F("str", ignored=True),
    "name": F("str", required=True, max_len=200),
    "serial_no": F("str", max_len=100),
    "device_id": F("str", max_len=100),
}

PORT_FIELDS: dict[str, F] = {
    "name": F("str", required=True, max_len=200),
    "port_number": F("int", required=True, minimum=1, maximum=1000,
                     description="the OCPP connector id on the charger's station"),
    "maximum_power_kw": F("number", minimum=0, maximum=10000),
    "connector_type": F("str", required=True, choices=tuple(CONNECTOR_TYPES)),
    "power_type": F("str", choices=POWER_TYPES),
    "evse_id": F("str", max_len=48, pattern=EVSE_ID_PATTERN, description="OICP EvseID",
                 example="DE*ABC*E1001*1"),
}

CHARGER_FIELDS: dict[str, F] = {
    "name": F("str", required=True, max_len=200),
    "ocpp_id": F("str", max_len=48, description="OCPP identity of a registered station"),
    "manufacturer": F("str", max_len=50, description="overrides the BootNotification's"),
    "model": F("str", max_len=50, description="overrides the BootNotification's"),
    "serial_number": F("str", max_len=50, description="overrides the BootNotification's"),
    "firmware_version": F("str", max_len=50, description="overrides the BootNotification's"),
    "latitude": F("number", **LAT),
    "longitude": F("number", **LON),
    "external_id": F("str", max_len=100),
    "type": F("str", required=True, choices=CHARGER_TYPES),
}
CHARGER_CREATE_FIELDS: dict[str, F] = {
    **CHARGER_FIELDS,
    "ports": F("array", items={"items": {"$ref": "#/components/schemas/PortInput"}}),
}

METER_FIELDS: dict[str, F] = {
    "is_producer": F("bool"),
    "producer_name": F("str", max_len=200),
    "producer_current": F("number"),
    "is_consumer": F("bool"),
    "consumer_name": F("str", max_len=200),
    "max_possible_current": F("number", minimum=0),
    "fallback_value": F("number"),
    "primary_transformer_ratio": F("number", minimum=0),
    "secondary_transformer_ratio": F("number", minimum=0),
    "mqtt_topic": F("str", max_len=1024, check=_check_topic, example="site/main/current",
                    description="MQTT topic the meter publishes on (a number, three numbers "
                                "L1..L3, or a JSON object with value or current)"),
}

NODE_CONNECTOR_FIELDS: dict[str, F] = {
    "id": F("str", ignored=True),
    "name": F("str", max_len=200),
    "connector_id": F("str", required=True, description="OCPP connector id (string or integer)"),
    "charging_station_id": F("str", required=True, max_len=48,
                             description="OCPP identity of a registered station"),
    "priority": F("int", minimum=0, maximum=1_000_000),
    "charging_capability": F("numbers", minimum=0),
    "discharge_capability": F("numbers", minimum=0),
    "phases": F("array", check=_check_phases, items={
        "items": {"type": "string", "enum": list(PHASE_NAMES)}, "minItems": 1, "maxItems": 3,
        "uniqueItems": True}, example=["L2"],
        description="site phases the outlet draws on (a single-phase outlet: the one it is "
                    "wired to); null = all three"),
    "live": F("object", ignored=True, description="read-only (the load manager's figures)"),
}

NODE_PARAMETER_FIELDS: dict[str, F] = {
    "name": F("str", max_len=200),
    "limit": F("number", minimum=0),
    "inbound_limit": F("number", minimum=0),
    "outbound_limit": F("number", minimum=0),
    "fallback": F("number", minimum=0),
    "pending_fallback_value": F("number", minimum=0),
    "fallback_status": F("str", max_len=40),
    "order": F("int", minimum=-1_000_000, maximum=1_000_000),
    "depth": F("str", ignored=True),
    "fuse_id": F("str", max_len=64),
    "firmware_version": F("str", max_len=50),
    "additional_comments": F("str", max_len=2000),
    "meter": F("object", items={"$ref": "#/components/schemas/MeterInput"}),
    "connectors": F("array", items={"items": {"$ref": "#/components/schemas/NodeConnectorInput"}}),
    "live": F("object", ignored=True, description="read-only (the load manager's figures)"),
}

NODE_FIELDS: dict[str, F] = {
    "id": F("str", ignored=True),
    "type": F("str", required=True, max_len=40,
              description="e.g. fuse, charging_station, connector_group"),
    "parameters": F("object", items={"$ref": "#/components/schemas/NodeParametersInput"}),
    "children": F("array", items={"items": {"$ref": "#/components/schemas/FuseNodeInput"}}),
}
NODE_CREATE_FIELDS: dict[str, F] = {
    **NODE_FIELDS,
    "parent_id": F("str", description="id of the parent node; null or absent = a root"),
}
NODE_PATCH_FIELDS: dict[str, F] = {
    "type": F("str", max_len=40),
    "parameters": F("object", items={"$ref": "#/components/schemas/NodeParametersInput"}),
    "parent_id": F("str", description="move the node under another; null = make it a root"),
}

ORGANISATION_FIELDS: dict[str, F] = {"name": F("str", required=True, max_len=200)}

RFID_FIELDS: dict[str, F] = {
    "name": F("str", max_len=100),
    "customer_name": F("str", max_len=200),
    "organization_id": F("str", max_len=64, description="required with an admin token"),
    "vehicle": F("object", items={"$ref": "#/components/schemas/VehicleInput"}),
}
VEHICLE_FIELDS: dict[str, F] = {
    "make": F("str", max_len=50),
    "model": F("str", max_len=50),
    "name": F("str", required=True, max_len=100),
    "vin": F("str", max_len=17),
}


def component_schemas() -> dict[str, Any]:
    """Input schemas for the OpenAPI document's components."""
    return {
        "SiteInput": json_schema(SITE_CREATE_FIELDS),
        "SitePatch": json_schema(SITE_FIELDS, partial=True),
        "LocalControllerInput": json_schema(LOCAL_CONTROLLER_FIELDS),
        "ChargerInput": json_schema(CHARGER_CREATE_FIELDS),
        "ChargerPatch": json_schema(CHARGER_FIELDS, partial=True),
        "PortInput": json_schema(PORT_FIELDS),
        "PortPatch": json_schema(PORT_FIELDS, partial=True),
        "FuseNodeInput": json_schema(NODE_FIELDS),
        "FuseNodeCreate": json_schema(NODE_CREATE_FIELDS),
        "FuseNodePatch": json_schema(NODE_PATCH_FIELDS, partial=True),
        "NodeParametersInput": json_schema(NODE_PARAMETER_FIELDS),
        "NodeConnectorInput": json_schema(NODE_CONNECTOR_FIELDS),
        "MeterInput": json_schema(METER_FIELDS),
        "OrganisationInput": json_schema(ORGANISATION_FIELDS),
        "RfidCardInput": json_schema(RFID_FIELDS),
        "VehicleInput": json_schema(VEHICLE_FIELDS),
    }


# -- nested parsing -------------------------------------------------------------------------


@dataclass
class NodeInput:
    """A validated fuse node with its subtree; ``where`` names it in error messages."""

    where: str
    type: str
    params: dict[str, Any]
    connectors: list[dict[str, Any]] | None  # None = leave as is (PATCH)
    children: list[NodeInput] = field(default_factory=list)


def parse_site_create(body: Any) -> dict[str, Any]:
    site = parse(body, SITE_CREATE_FIELDS)
    if site.get("local_controller") is not None:
        site["local_controller"] = parse(site["local_controller"], LOCAL_CONTROLLER_FIELDS,
                                         "local_controller")
    site["fuse_tree"] = parse_fuse_tree(site.get("fuse_tree") or [], "fuse_tree")
    chargers = site.get("chargers") or []
    if len(chargers) > MAX_CHARGERS:
        raise bad_request("chargers", f"at most {MAX_CHARGERS} chargers per request")
    site["chargers"] = [parse_charger_create(c, f"chargers[{i}]")
                        for i, c in enumerate(chargers)]
    return site


def parse_charger_create(body: Any, where: str = "") -> dict[str, Any]:
    charger = parse(body, CHARGER_CREATE_FIELDS, where)
    ports = charger.get("ports") or []
    if len(ports) > MAX_PORTS:
        raise bad_request(field_name(where, "ports"), f"at most {MAX_PORTS} ports per charger")
    charger["ports"] = [parse(p, PORT_FIELDS, f"{field_name(where, 'ports')}[{i}]")
                        for i, p in enumerate(ports)]
    numbers = [p["port_number"] for p in charger["ports"]]
    for i, number in enumerate(numbers):
        if number in numbers[:i]:
            raise bad_request(f"{field_name(where, 'ports')}[{i}].port_number",
                              f"port number {number} appears twice")
    return charger


def parse_fuse_tree(nodes: Any, where: str) -> list[NodeInput]:
    if not isinstance(nodes, list):
        raise bad_request(where, "must be an array of nodes")
    counter = [0]
    return [_parse_node(n, f"{where}[{i}]", 1, counter) for i, n in enumerate(nodes)]


def parse_node(body: Any, where: str = "", spec: dict[str, F] | None = None) -> NodeInput:
    return _parse_node(body, where, 1, [0], spec or NODE_FIELDS)


def _parse_node(body: Any, where: str, depth: int, counter: list[int],
                spec: dict[str, F] = NODE_FIELDS) -> NodeInput:
    if depth > MAX_TREE_DEPTH:
        raise bad_request(where, f"the fuse tree is deeper than {MAX_TREE_DEPTH} levels")
    counter[0] += 1
    if counter[0] > MAX_TREE_NODES:
        raise bad_request(where, f"the fuse tree has more than {MAX_TREE_NODES} nodes")
    node = parse(body, spec, where)
    params, connectors = parse_parameters(node.get("parameters") or {},
                                          field_name(where, "parameters"))
    children = node.get("children") or []
    return NodeInput(
        where=where, type=node["type"], params=params, connectors=connectors or [],
        children=[_parse_node(c, f"{field_name(where, 'children')}[{i}]", depth + 1, counter)
                  for i, c in enumerate(children)])


def parse_parameters(body: Any, where: str, *, partial: bool = False
                     ) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
    """Node parameters -> (column values, connectors or None when not given)."""
    params = parse(body, NODE_PARAMETER_FIELDS, where, partial=partial)
    if params.get("meter") is not None:
        meter = parse(params["meter"], METER_FIELDS, field_name(where, "meter"))
        params["meter"] = {name: meter.get(name) for name in METER_FIELDS}  # stored complete
    connectors = params.pop("connectors", None)
    if connectors is not None:
        connectors = [parse_node_connector(c, f"{field_name(where, 'connectors')}[{i}]")
                      for i, c in enumerate(connectors)]
    if params.get("order", 0) is None:
        params["order"] = 0
    return params, connectors


def parse_node_connector(body: Any, where: str) -> dict[str, Any]:
    if isinstance(body, dict) and isinstance(body.get("connector_id"), int) and not isinstance(
            body.get("connector_id"), bool):
        body = {**body, "connector_id": str(body["connector_id"])}
    connector = parse(body, NODE_CONNECTOR_FIELDS, where)
    raw = connector["connector_id"]
    if not raw.isdigit() or not 0 < int(raw) <= 1000:
        raise bad_request(field_name(where, "connector_id"),
                          "must be an OCPP connector id (1..1000)")
    connector["connector_id"] = int(raw)
    connector["charging_capability"] = connector.get("charging_capability") or []
    connector["discharge_capability"] = connector.get("discharge_capability") or []
    if connector.get("phases") is not None:
        connector["phases"] = sorted(connector["phases"])
    return connector


def parse_node_id(value: Any, name: str) -> int | None:
    """Node ids are strings in the API (numbers accepted); None stays None."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    value = check_value(value, F("str", max_len=18), name)
    if not value.isdigit():
        raise bad_request(name, "is not a node id")
    return int(value)

"""Request bodies and database shortcuts shared by the Sites API tests."""

from __future__ import annotations

import re
from typing import Any

from hub.db.base import utcnow
from hub.db.models import Connector, Station
from tests.harness import RunningHub


async def register_station(hub: RunningHub, station_id: str, connectors: int = 0) -> None:
    """A station as `pnc-hub station add` leaves it, optionally with reported connectors."""
    async with hub.hub.sessions() as session, session.begin():
        session.add(Station(id=station_id, registration_status="Accepted", created_at=utcnow()))
        await session.flush()
        for n in range(1, connectors + 1):
            session.add(Connector(station_id=station_id, connector_id=n, status="Available",
                                  error_code="NoError", status_timestamp=utcnow()))


def fuse_tree(station_id: str) -> list[dict[str, Any]]:
    """A tree with every ChargePilot node parameter set."""
    return [{
        "type": "fuse",
        "parameters": {
            "name": "Main fuse", "limit": 250, "inbound_limit": 250, "outbound_limit": 100,
            "fallback": 32, "pending_fallback_value": 16, "fallback_status": "active",
            "order": 1, "fuse_id": "F-1", "firmware_version": "2.1.0",
            "additional_comments": "basement",
            "meter": {"is_producer": True, "producer_name": "PV roof", "producer_current": 12.5,
                      "is_consumer": False, "consumer_name": "building",
                      "max_possible_current": 400, "fallback_value": 63,
                      "primary_transformer_ratio": 400, "secondary_transformer_ratio": 5},
            "connectors": [],
        },
        "children": [{
            "type": "charging_station",
            "parameters": {
                "name": "Charger group", "limit": 125, "inbound_limit": 125,
                "outbound_limit": 0, "fallback": 16, "pending_fallback_value": 16,
                "fallback_status": "inactive", "order": 0, "fuse_id": "F-2",
                "firmware_version": "1.0", "additional_comments": "row A",
                "meter": {"is_producer": False, "producer_name": "-", "producer_current": 0,
                          "is_consumer": True, "consumer_name": "chargers",
                          "max_possible_current": 125, "fallback_value": 16,
                          "primary_transformer_ratio": 1, "secondary_transformer_ratio": 1},
                "connectors": [{"name": "Left", "connector_id": "1",
                                "charging_station_id": station_id, "priority": 2,
                                "charging_capability": [6, 16, 32],
                                "discharge_capability": [6, 10]}],
            },
            "children": [],
        }],
    }]


def full_site(station_id: str, org: str = "acme", **overrides: Any) -> dict[str, Any]:
    """A site body with every field the seeds know set."""
    body: dict[str, Any] = {
        "name": "Site 1", "organization_id": org, "organization_name": "Acme Charging",
        "reference_id": "ref-1", "status": "ACTIVE", "timezone": "America/Los_Angeles",
        "street": "Fake St", "house_number": "1234", "postal_code": "90802",
        "city": "Long Beach", "region": "CA", "country": "USA",
        "latitude": 33.77, "longitude": -118.19,
        "local_controller": {"name": "LC 1", "serial_no": "LC-SN-1", "device_id": "dev-1"},
        "fuse_tree": fuse_tree(station_id),
        "chargers": [{
            "name": "Test Charger", "ocpp_id": station_id, "type": "DCFC",
            "external_id": "STATION-001", "latitude": 33.7701, "longitude": -118.1901,
            "ports": [{"name": "Test Port", "port_number": 1, "maximum_power_kw": 180,
                       "connector_type": "CCS1", "power_type": "DC",
                       "evse_id": "US*ABC*E" + re.sub("[^A-Za-z0-9]", "", station_id) + "*1"}],
        }],
    }
    body.update(overrides)
    return body

"""Flipturn's view of the canonical site objects: camelCase, numeric ids, only Flipturn's fields.

The shape is Flipturn's ``GET /api/sites`` response exactly, so a Flipturn client can be pointed
at the hub unchanged.
"""

from __future__ import annotations

from typing import Any


def _reading(reading: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if reading is None else {"value": reading["value"],
                                         "timestamp": reading["timestamp"]}


def _session(s: dict[str, Any] | None) -> dict[str, Any] | None:
    if s is None:
        return None
    readings = s["latest_readings"] or {}
    vehicle = s["vehicle"]
    rfid = s["rfid"]
    return {
        "id": int(s["id"]),
        "startTime": s["start_time"],
        "socStartPercent": s["soc_start_percent"],
        "energyDeliveredKwh": s["energy_delivered_kwh"],
        "ocppIdTag": s["ocpp_id_tag"],
        "ocppTransactionId": s["ocpp_transaction_id"],
        "latestReadings": {
            "powerKw": _reading(readings.get("power_kw")),
            "currentA": _reading(readings.get("current_a")),
            "socPercent": _reading(readings.get("soc_percent")),
            "voltage": _reading(readings.get("voltage")),
        },
        "vehicle": None if vehicle is None else {
            "id": int(vehicle["id"]), "make": vehicle["make"], "model": vehicle["model"],
            "name": vehicle["name"], "vin": vehicle["vin"]},
        "rfid": None if rfid is None else {"id": int(rfid["id"]), "name": rfid["name"]},
        "customer": None if s["customer"] is None else {"name": s["customer"]["name"]},
    }


def _port(p: dict[str, Any]) -> dict[str, Any]:
    status = p["ocpp_status"]
    return {
        "id": int(p["id"]),
        "name": p["name"],
        "portNumber": p["port_number"],
        "maximumPowerKw": p["maximum_power_kw"],
        "connectorType": p["connector_type"],
        "ocppStatus": None if status is None else {
            "status": status["status"], "timestamp": status["timestamp"],
            "errorCode": status["error_code"], "vendorErrorCode": status["vendor_error_code"],
            "info": status["info"]},
        "currentChargingSession": _session(p["current_charging_session"]),
    }


def _charger(c: dict[str, Any]) -> dict[str, Any]:
    connection = c["connection_status"]
    return {
        "id": int(c["id"]),
        "name": c["name"],
        "manufacturer": c["manufacturer"],
        "model": c["model"],
        "serialNumber": c["serial_number"],
        "firmwareVersion": c["firmware_version"],
        "latitude": c["latitude"],
        "longitude": c["longitude"],
        "externalId": c["external_id"],
        "ocppId": c["ocpp_id"],
        "type": c["type"],
        "powerSharing": c["power_sharing"],
        "connectionStatus": None if connection is None else {
            "status": connection["status"], "timestamp": connection["timestamp"]},
        "numberOfPorts": c["number_of_ports"],
        "ports": [_port(p) for p in c["ports"]],
    }


def flipturn_site(site: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": int(site["id"]),
        "name": site["name"],
        "address": site["address"],
        "timezone": site["timezone"],
        "organization": {"id": site["_organization_number"],
                         "name": site["organization"]["name"]},
        "chargers": [_charger(c) for c in site["chargers"]],
    }

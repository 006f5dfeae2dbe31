"""A site whose port is in a live session driven by a real `ocpp` 1.6 client: connection,
status, the running session and its latest readings follow what the charger sends."""

from __future__ import annotations

from typing import Any

from ocpp.v16 import call

from hub.services.timestamps import format_timestamp, parse_timestamp
from tests.harness import RunningHub, connect_station, now, wait_for
from tests.sites_api.builders import full_site
from tests.sites_api.conftest import Api
from tests.sites_api.seed_fields import FLIPTURN_TYPE, assert_flipturn_shape


def sample(value: str, measurand: str, unit: str, **extra: Any) -> dict[str, Any]:
    return {"value": value, "measurand": measurand, "unit": unit, **extra}


async def meter_values(station: Any, transaction_id: int, timestamp: str,
                       *samples: dict[str, Any]) -> None:
    await station.call(call.MeterValues(
        connector_id=1, transaction_id=transaction_id,
        meter_value=[{"timestamp": timestamp, "sampled_value": list(samples)}]), suppress=False)


def port_of(site: dict[str, Any]) -> dict[str, Any]:
    return site["chargers"][0]["ports"][0]


async def test_port_follows_a_live_ocpp_session(hub: RunningHub, admin: Api) -> None:
    async with connect_station(hub, "CP-LIVE") as station:
        await station.boot(vendor="ABB", model="Terra 184")
        await station.call(call.StatusNotification(
            connector_id=1, error_code="NoError", status="Available", timestamp=now()),
            suppress=False)

        # The station reported connector 1 only: a port 2 is refused, naming the field.
        body = full_site("CP-LIVE")
        body["chargers"][0]["ports"].append(
            {"name": "Second", "port_number": 2, "connector_type": "CCS1"})
        status, error, _ = await admin.post("/sites", body)
        assert status == 400 and error["field"] == "chargers[0].ports[1].port_number"

        status, site, _ = await admin.post("/sites", full_site("CP-LIVE"))
        assert status == 201
        site_path = f"/sites/{site['id']}"
        status, card, _ = await admin.put("/rfid-cards/TAG-1", {
            "organization_id": "acme", "name": "Blue card", "customer_name": "Test Customer",
            "vehicle": {"make": "Make", "model": "Model", "name": "9876", "vin": "demo-vin-0"}})
        assert status == 200

        charger = site["chargers"][0]
        assert charger["manufacturer"] == "ABB" and charger["model"] == "Terra 184"
        assert charger["serial_number"] == "SN-1" and charger["firmware_version"] == "1.2.3"
        assert charger["connection_status"]["status"] == "Connected"
        assert port_of(site)["ocpp_status"]["status"] == "Available"
        assert port_of(site)["ocpp_status"]["error_code"] == "NoError"
        assert port_of(site)["current_charging_session"] is None

        start = now()
        started = await station.call(call.StartTransaction(
            connector_id=1, id_tag="TAG-1", meter_start=1000, timestamp=start), suppress=False)
        tx = started.transaction_id
        await station.call(call.StatusNotification(
            connector_id=1, error_code="NoError", status="Charging", timestamp=now(),
            vendor_error_code="V-0", info="plugged"), suppress=False)
        first = now()
        await meter_values(
            station, tx, first,
            sample("50000", "Power.Active.Import", "W"), sample("100", "Current.Import", "A"),
            sample("20", "SoC", "Percent", location="EV"), sample("400", "Voltage", "V"),
            sample("3500", "Energy.Active.Import.Register", "Wh"))

        _, site, _ = await admin.get(site_path)
        port = port_of(site)
        assert port["ocpp_status"] == {**port["ocpp_status"], "status": "Charging",
                                       "vendor_error_code": "V-0", "info": "plugged"}
        session = port["current_charging_session"]
        assert session["id"] == str(tx) and session["ocpp_transaction_id"] == tx
        assert session["ocpp_id_tag"] == "TAG-1"
        assert session["soc_start_percent"] == 20
        assert session["energy_delivered_kwh"] == 2.5
        readings = session["latest_readings"]
        assert readings["power_kw"] == {"value": 50.0, "timestamp": readings["power_kw"][
            "timestamp"]}
        assert (readings["current_a"]["value"], readings["soc_percent"]["value"],
                readings["voltage"]["value"]) == (100, 20, 400)
        assert session["rfid"] == {"id": card["id"], "name": "Blue card"}
        assert session["customer"] == {"name": "Test Customer"}
        assert session["vehicle"]["vin"] == "demo-vin-0"

        # New readings replace the old ones; the SoC at the start stays.
        second = now()
        await meter_values(
            station, tx, second,
            sample("42.5", "Power.Active.Import", "kW"), sample("35", "SoC", "Percent"),
            sample("5.5", "Energy.Active.Import.Register", "kWh"))
        _, site, _ = await admin.get(site_path)
        session = port_of(site)["current_charging_session"]
        readings = session["latest_readings"]
        assert readings["power_kw"]["value"] == 42.5
        assert readings["soc_percent"]["value"] == 35
        assert readings["power_kw"]["timestamp"] == format_timestamp(parse_timestamp(second))
        assert readings["current_a"]["timestamp"] == format_timestamp(parse_timestamp(first))
        assert readings["current_a"]["value"] == 100  # not re-sent: the last one stays
        assert session["soc_start_percent"] == 20
        assert session["energy_delivered_kwh"] == 4.5

        # Flipturn's view shows the same session in its own shape.
        _, flipturn, _ = await admin.get("/api/sites")
        assert_flipturn_shape(flipturn["data"], [FLIPTURN_TYPE])
        fport = flipturn["data"][0]["chargers"][0]["ports"][0]
        fsession = fport["currentChargingSession"]
        assert fsession["latestReadings"]["powerKw"]["value"] == 42.5
        assert fsession["ocppTransactionId"] == tx and fsession["id"] == tx
        assert fsession["rfid"] == {"id": int(card["id"]), "name": "Blue card"}
        assert fport["ocppStatus"]["status"] == "Charging"

        await station.call(call.StopTransaction(
            meter_stop=6000, timestamp=now(), transaction_id=tx, reason="EVDisconnected"),
            suppress=False)
        await station.call(call.StatusNotification(
            connector_id=1, error_code="NoError", status="Finishing", timestamp=now()),
            suppress=False)
        _, site, _ = await admin.get(site_path)
        assert port_of(site)["current_charging_session"] is None
        assert port_of(site)["ocpp_status"]["status"] == "Finishing"

    async def disconnected() -> bool:
        _, site, _ = await admin.get(site_path)
        return site["chargers"][0]["connection_status"]["status"] == "Disconnected"

    await wait_for(disconnected)

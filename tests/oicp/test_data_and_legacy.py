"""EVSE data (mapping and push), pricing, and the legacy /hubject/* and /api/oicp/* routes."""

from __future__ import annotations

import aiohttp
import pytest
from ocpp.v16 import call

from oicp import OICP
from oicp.config import load_oicp_config
from oicp.evse_data import EvseSite, IncompleteEvse, evse_data_record, push_evse_data_request
from oicp.spec import load_spec
from tests.harness import connect_station, now, wait_for
from tests.oicp.conftest import (
    EVCO,
    EVSE_1,
    EVSE_2,
    PROVIDER,
    oicp_settings,
    remote_start_body,
    session_id,
)

SITE = dict(station_id="CP-1", station_name="Hauptstrasse 1", country="DEU", city="Berlin",
            street="Hauptstrasse", postal_code="10115", house_number="1",
            latitude=52.520008, longitude=13.40495, region="Berlin",
            timezone="Europe/Berlin", manufacturer="ACME")


def plain_evses() -> list[EvseSite]:
    return [
        EvseSite(evse_id=EVSE_1, connector_id=1, plug="Type 2 Outlet", max_power_kw=22.0,
                 **SITE),
        EvseSite(evse_id=EVSE_2, connector_id=2, plug="CCS Combo 2 Plug (Cable Attached)",
                 max_power_kw=150.4, **SITE),
    ]


def test_evse_data_record_from_plain_data_validates() -> None:
    config = load_oicp_config({"operator_id": "DE*ABC", "operator_name": "ACME",
                               "hotline_phone_number": "+4930123456"})
    records = [evse_data_record(e, config) for e in plain_evses()]
    assert records[0]["ChargingFacilities"] == [
        {"PowerType": "AC_3_PHASE", "Power": 22, "ChargingModes": ["Mode_3"]}]
    assert records[1]["ChargingFacilities"][0]["PowerType"] == "DC"
    assert records[1]["ChargingFacilities"][0]["Power"] == 150
    assert records[0]["GeoCoordinates"] == {"DecimalDegree": {"Latitude": "52.520008",
                                                              "Longitude": "13.40495"}}
    assert records[0]["Address"]["TimeZone"] in ("UTC+01:00", "UTC+02:00")
    body = push_evse_data_request(config, records, "fullLoad")
    spec = load_spec()
    if spec is not None:
        assert spec.request_errors("/evsepush/v23/operators/DE*ABC/data-records", body) == []
    incomplete = EvseSite(**{**plain_evses()[0].__dict__, "latitude": None, "plug": "Z"})
    with pytest.raises(IncompleteEvse, match="latitude, plug"):
        evse_data_record(incomplete, config)


async def test_push_evse_data_and_pricing(hub_factory, mock) -> None:
    pricing = {
        "products": [{
            "ProviderID": "*", "PricingDefaultPrice": 0.39, "PricingDefaultPriceCurrency": "EUR",
            "PricingDefaultReferenceUnit": "KILOWATT_HOUR",
            "PricingProductDataRecords": [{
                "ProductID": "AC3", "ReferenceUnit": "KILOWATT_HOUR",
                "ProductPriceCurrency": "EUR", "PricePerReferenceUnit": 0.39,
                "MaximumProductChargingPower": 22, "IsValid24hours": True,
                "ProductAvailabilityTimes": [{"Periods": [{"begin": "00:00", "end": "23:59"}],
                                              "on": "Everyday"}]}]}],
        "evse_pricing": [{"EvseID": EVSE_1, "ProviderID": "*", "EvseIDProductList": ["AC3"]}],
    }
    running = await hub_factory(dev=True, oicp=oicp_settings(mock, pricing=pricing))
    rt = running.app[OICP]
    push = await rt.push_evse_data("fullLoad", evses=plain_evses())
    assert push.evse_ids == [EVSE_1, EVSE_2] and push.skipped == {}
    result = await rt.worker.wait_for(push.outbox_id, 5)
    assert result is not None and result["delivered"] and result["answer"]["Result"] is True
    sent = mock.accepted("PushEvseData")[0]
    assert sent["ActionType"] == "fullLoad"
    assert [r["EvseID"] for r in sent["OperatorEvseData"]["EvseDataRecord"]] == [EVSE_1, EVSE_2]
    await wait_for(lambda: mock.accepted("PushEVSEPricing"))
    assert [r.operation for r in mock.requests if "Pricing" in r.operation] == [
        "PushPricingProductData", "PushEVSEPricing"]
    # Nothing published in the sites model: the legacy route refuses an empty full load.
    async with aiohttp.ClientSession() as http:
        async with http.post(running.http_url + "/hubject/evse-data", headers=running.auth,
                             json={"action": "fullLoad"}) as response:
            assert response.status == 409
            assert (await response.json())["error"] == "no_evse_data"
    assert len(mock.accepted("PushEvseData")) == 1


async def test_legacy_routes(oicp_hub, mock) -> None:
    url = oicp_hub.http_url
    sid = session_id()
    async with aiohttp.ClientSession() as http, connect_station(oicp_hub, "CP-1") as station:
        await station.boot()
        await station.call(call.StatusNotification(connector_id=1, error_code="NoError",
                                                   status="Available"))
        async with http.post(url + "/hubject/remote-start", json=remote_start_body(sid)) as r:
            assert r.status == 401  # admin token required
        async with http.post(url + "/hubject/remote-start", json=remote_start_body(sid),
                             headers=oicp_hub.auth) as r:
            answer = await r.json()
        assert answer["status"] == "Accepted" and answer["session_id"] == sid
        assert answer["station_id"] == "CP-1" and answer["connector_id"] == 1
        assert answer["oicp"]["Result"] is True
        started = await station.call(call.StartTransaction(
            connector_id=1, id_tag=EVCO.upper(), meter_start=0, timestamp=now()))
        stop = {"SessionID": sid, "ProviderID": PROVIDER, "EvseID": EVSE_1}
        async with http.post(url + "/hubject/remote-stop", json=stop,
                             headers=oicp_hub.auth) as r:
            assert (await r.json())["status"] == "Accepted"
        await station.call(call.StopTransaction(meter_stop=10, timestamp=now(),
                                                transaction_id=started.transaction_id))
        reserve = {**remote_start_body(session_id(), evse_id=EVSE_2), "Duration": 5}
        async with http.post(url + "/hubject/reserve-now", json=reserve,
                             headers=oicp_hub.auth) as r:
            answer = await r.json()
        assert answer["status"] == "Accepted" and answer["connector_id"] == 2
        async with http.post(url + "/hubject/reserve-now", json={"EvseID": "x"},
                             headers=oicp_hub.auth) as r:
            answer = await r.json()
        assert answer["status"] == "Rejected" and answer["oicp"]["StatusCode"]["Code"] == "022"

        async with http.post(url + "/api/oicp/sync", json={"station_id": "CP-1"},
                             headers=oicp_hub.auth) as r:
            answer = await r.json()
        assert answer["result"] == "ok" and answer["statuses"][EVSE_1] == "Available"
        async with http.post(url + "/api/oicp/sync", json={"station_id": "nope"},
                             headers=oicp_hub.auth) as r:
            assert r.status == 404
        await wait_for(lambda: mock.accepted("ChargeDetailRecord"))
        async with http.get(url + "/api/oicp/outbox", headers=oicp_hub.auth) as r:
            metrics = await r.json()
        assert metrics["enabled"] is True and "depth" in metrics["outbox"]
        async with http.get(url + "/api/openapi.json", headers=oicp_hub.auth) as r:
            paths = (await r.json())["paths"]
        assert "/api/oicp/charging/v21/providers/{providerID}/authorize-remote/start" in paths
        assert paths["/api/oicp/charging/v21/providers/{providerID}/authorize-remote/start"][
            "post"]["security"] == []

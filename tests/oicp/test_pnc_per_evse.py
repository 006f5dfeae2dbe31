"""Plug&Charge advertised per EVSE: "PnC" is in AuthenticationModes only for the EVSEs whose
station holds a valid SECC certificate (signed by the hub for a real `ocpp` 1.6 charger over the
Plug&Charge tunnel), EVSE data is re-pushed when that changes, and CalibrationLawDataAvailability
follows the operator's per-EVSE setting; every push validates against the OICP OpenAPI."""

from __future__ import annotations

from typing import Any

import pytest

from oicp.spec import load_spec
from tests.harness import wait_for
from tests.oicp.conftest import oicp_settings
from tests.oicp.test_evse_data_sync import (
    DATA_PATH,
    add_organisation,
    add_station,
    all_sent,
    api,
    end_change_delay,
    pushed,
    waiting_syncs,
)
from tests.pnc.chargers import Wallet, connect

pytest.importorskip("sites_api.models", exc_type=ImportError)

PNC_EVSE = "DE*ABC*E8001*1"
RFID_EVSE = "DE*ABC*E8002*1"


def _site(chargers: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "name": "Eichamt", "organization_id": "acme", "timezone": "Europe/Berlin",
        "street": "Ringstrasse", "house_number": "7", "postal_code": "80331", "city": "Muenchen",
        "country": "DEU", "latitude": 48.137, "longitude": 11.575,
        "chargers": [{"name": station, "ocpp_id": station, "type": "DCFC", "ports": [
            {"name": "DC", "port_number": 1, "maximum_power_kw": 150, "connector_type": "CCS2",
             "power_type": "DC", "evse_id": evse_id}]} for station, evse_id in chargers],
    }


async def test_pnc_only_where_the_station_holds_a_secc_certificate(hub_factory, mock) -> None:
    running = await hub_factory(dev=True, oicp=oicp_settings(
        mock, evses=[], evse_data_change_delay=3600,
        authentication_modes=["NFC RFID Classic", "REMOTE", "PnC"],
        calibration_law_data={PNC_EVSE: "Local", "CP-82": "External"}),
        pki={"cpo_name": "pnc-hub Test CPO"})
    for station in ("CP-81", "CP-82"):
        await add_station(running, station)
    await add_organisation(running)
    await api(running, "POST", "/sites", _site([("CP-81", PNC_EVSE), ("CP-82", RFID_EVSE)]))
    await end_change_delay(running)
    first = pushed((await wait_for(lambda: mock.accepted("PushEvseData")))[0])
    # The operator lists PnC among its modes, but no station holds a SECC certificate yet.
    assert "PnC" not in first[PNC_EVSE]["AuthenticationModes"]
    assert "PnC" not in first[RFID_EVSE]["AuthenticationModes"]
    assert first[PNC_EVSE]["CalibrationLawDataAvailability"] == "Local"
    assert first[RFID_EVSE]["CalibrationLawDataAvailability"] == "External"
    await wait_for(lambda: all_sent(running))

    # CP-81 gets its SECC certificate (CN = the EvseID of its port, set by the operator).
    wallet = Wallet("CP-81", PNC_EVSE)
    async with connect(running, "CP-81", wallet) as cp:
        await cp.boot()
        status, answer = await cp.sign_v2g()
        assert (status, answer and answer["status"]) == ("Accepted", "Accepted")
        await wait_for(lambda: "V2GCertificate" in wallet.chains)
        # The station holds the chain before its answer is sent: it stays connected until the
        # hub has the answer, which records the certificate and announces an EVSE change.
        await wait_for(lambda: waiting_syncs(running))
    await end_change_delay(running)
    await wait_for(lambda: len(mock.accepted("PushEvseData")) == 2)
    second = pushed(mock.accepted("PushEvseData")[1])
    assert second[PNC_EVSE]["AuthenticationModes"] == ["NFC RFID Classic", "REMOTE", "PnC"]
    assert second[RFID_EVSE]["AuthenticationModes"] == ["NFC RFID Classic", "REMOTE"]
    spec = load_spec()
    if spec is not None:
        for body in mock.accepted("PushEvseData"):
            assert spec.request_errors(DATA_PATH, body) == []

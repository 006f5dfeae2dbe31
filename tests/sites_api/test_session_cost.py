"""The running cost of a session under its tariff shows in the Sites API session (a real
`ocpp` 1.6 client charges; the tariff is the connector's)."""

from __future__ import annotations

from ocpp.v16 import call

from hub.services import tariffs
from tests.harness import RunningHub, connect_station, now, wait_for
from tests.sites_api.builders import full_site
from tests.sites_api.conftest import Api
from tests.sites_api.test_live_session import meter_values, port_of, sample


async def test_the_session_shows_its_running_cost(hub: RunningHub, admin: Api) -> None:
    async with connect_station(hub, "CP-COST") as station:
        await station.boot()
        status, site, _ = await admin.post("/sites", full_site("CP-COST"))
        assert status == 201
        await tariffs.set_tariff(hub.hub, "CP-COST", 1, tariffs.TariffTerms(
            "EUR", energy_price=0.30, session_fee=0.50, tax_percent=20))
        started = await station.call(call.StartTransaction(
            connector_id=1, id_tag="TAG-1", meter_start=1000, timestamp=now()), suppress=False)
        _, site, _ = await admin.get(f"/sites/{site['id']}")
        assert port_of(site)["current_charging_session"]["cost"] is None  # no reading yet
        await meter_values(station, started.transaction_id, now(),
                           sample("11000", "Energy.Active.Import.Register", "Wh"))

        async def cost() -> object:
            _, body, _ = await admin.get(f"/sites/{site['id']}")
            return port_of(body)["current_charging_session"]["cost"]

        # 10 kWh x 0.30 + 0.50 = 3.50 net, 4.20 with 20 % tax.
        assert await wait_for(cost) == {"currency": "EUR", "net": 3.5, "total": 4.2}

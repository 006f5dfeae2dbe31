"""EVSE identity and data from the Sites model (sites, chargers, ports), when it is present."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from ocpp.v16 import call

from hub.db.base import Base, utcnow
from hub.db.models import Station
from oicp import OICP
from oicp.evse_data import build_records, push_evse_data_request
from oicp.spec import load_spec
from tests.harness import connect_station, wait_for
from tests.oicp.conftest import oicp_settings, remote_start_body, session_id, webhook

sites = pytest.importorskip("sites_api.models", exc_type=ImportError)
EVSE_AC = "DE*ABC*E9001*1"
EVSE_DC = "DE*ABC*E9001*2"


async def seed_sites(running) -> None:
    tables = [sites.Organisation.__table__, sites.Site.__table__, sites.Charger.__table__,
              sites.Port.__table__]
    async with running.hub.engine.begin() as conn:
        await conn.run_sync(lambda c: Base.metadata.create_all(c, tables=tables))
        await conn.execute(sa.insert(Station).values(id="CP-9", created_at=utcnow(),
                                                     registration_status="Accepted"))
        org = (await conn.execute(sa.insert(sites.Organisation).values(
            key="acme", name="ACME").returning(sites.Organisation.id))).scalar_one()
        site = (await conn.execute(sa.insert(sites.Site).values(
            organisation_id=org, name="Depot Nord", timezone="Europe/Berlin",
            street="Hauptstrasse", house_number="5", postal_code="10115", city="Berlin",
            country="DEU", latitude=52.52, longitude=13.405).returning(sites.Site.id)
        )).scalar_one()
        charger = (await conn.execute(sa.insert(sites.Charger).values(
            site_id=site, name="Nord 1", station_id="CP-9", type="DCFC",
            manufacturer="ACME").returning(sites.Charger.id))).scalar_one()
        await conn.execute(sa.insert(sites.Port), [
            {"charger_id": charger, "name": "AC", "port_number": 1, "connector_type": "TYPE2",
             "maximum_power_kw": 22, "power_type": "AC_3_PHASE", "evse_id": EVSE_AC},
            {"charger_id": charger, "name": "DC", "port_number": 2, "connector_type": "CCS2",
             "maximum_power_kw": 150, "power_type": None, "evse_id": EVSE_DC},
            {"charger_id": charger, "name": "unpublished", "port_number": 3,
             "connector_type": "TYPE2", "maximum_power_kw": 11, "power_type": None,
             "evse_id": None},
        ])


async def test_sites_model_gives_evse_ids_and_data(hub_factory, mock) -> None:
    running = await hub_factory(dev=True, oicp=oicp_settings(mock, evses=[]))
    await seed_sites(running)
    rt = running.app[OICP]
    async with running.hub.engine.connect() as conn:
        evses = await rt.directory.sites(conn)
        ref = await rt.directory.by_evse_id(conn, EVSE_DC.lower())
    assert [e.evse_id for e in evses] == [EVSE_AC, EVSE_DC]
    assert ref is not None and (ref.station_id, ref.connector_id) == ("CP-9", 2)
    records, skipped = build_records(evses, rt.config)
    assert skipped == {}
    assert records[1]["Plugs"] == ["CCS Combo 2 Plug (Cable Attached)"]
    assert records[1]["ChargingFacilities"][0]["PowerType"] == "DC"
    assert records[0]["Address"]["City"] == "Berlin"
    assert records[0]["HardwareManufacturer"] == "ACME"
    spec = load_spec()
    if spec is not None:
        body = push_evse_data_request(rt.config, records)
        assert spec.request_errors("/evsepush/v23/operators/DE*ABC/data-records", body) == []

    async with connect_station(running, "CP-9") as station:
        await station.boot()
        for connector in (1, 2, 3):
            await station.call(call.StatusNotification(connector_id=connector,
                                                       error_code="NoError",
                                                       status="Available"))
        await wait_for(lambda: mock.latest_status() == {EVSE_AC: "Available",
                                                        EVSE_DC: "Available"})
        _, ack = await webhook(running, "start", remote_start_body(session_id(),
                                                                   evse_id=EVSE_DC))
        assert ack["Result"] is True, ack
        remote = [r for r in station.received if r.action == "RemoteStartTransaction"]
        assert remote[0].payload["connector_id"] == 2
    # Port 3 has no EvseID: nothing about it was ever pushed.
    assert {evse for evse, _ in mock.statuses()} == {EVSE_AC, EVSE_DC}


async def test_without_an_evse_provider_only_configured_evses_are_published(
        hub_factory, mock) -> None:
    # OICP alone (no Sites feature, so no EVSE data provider): the ports in the database are
    # not OICP's to read; the EVSEs are those of [[oicp.evses]] only.
    from hub.app import features

    oicp_only = [f for f in features() if f.name == "oicp"]
    running = await hub_factory(dev=True, feature_list=oicp_only, oicp=oicp_settings(mock))
    await seed_sites(running)
    rt = running.app[OICP]
    async with running.hub.engine.connect() as conn:
        refs = await rt.directory.all(conn)
        assert await rt.directory.sites(conn) == []
        assert await rt.directory.by_evse_id(conn, EVSE_DC) is None
    assert refs and EVSE_AC not in {r.evse_id for r in refs}
    assert {r.evse_id for r in refs} == {e["evse_id"] for e in oicp_settings(mock)["evses"]}

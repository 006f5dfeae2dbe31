"""Issue 14, findings 2 and 3: stations belong to an organisation, and organisations stay apart.

- An organisation's token attaches only its own stations (``stations.organisation_key``, set by
  an admin); an unowned station only an admin attaches.
- For an organisation's token, every error about another organisation's object is byte for
  byte the answer for an id that does not exist: each case is asked once while the object
  exists, then again after an admin removed it, and the two answers are compared.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from hub.db.models import Station
from tests.harness import RunningHub
from tests.sites_api.builders import register_station
from tests.sites_api.conftest import Api


async def raw(api: Api, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
    """Status and the exact body bytes."""
    async with api.http.request(method, api.base + path, json=body,
                                headers={"Authorization": f"Bearer {api.token}"}) as resp:
        return resp.status, await resp.read()


async def own(admin: Api, station_id: str, org: str | None) -> None:
    status, body, _ = await admin.patch(f"/api/stations/{station_id}/identity",
                                        {"organization_id": org})
    assert status == 200 and body["organization_id"] == org, body


async def forget_station(hub: RunningHub, station_id: str) -> None:
    async with hub.hub.engine.begin() as conn:
        await conn.execute(sa.delete(Station).where(Station.id == station_id))


def charger(station_id: str, evse_id: str | None = None) -> dict[str, Any]:
    ports = [] if evse_id is None else [{"name": "1", "port_number": 1,
                                         "connector_type": "TYPE2", "evse_id": evse_id}]
    return {"name": "C", "ocpp_id": station_id, "type": "Level 2", "ports": ports}


def tree(station_id: str) -> list[dict[str, Any]]:
    return [{"type": "grid_connection", "parameters": {"name": "G", "limit": 100, "connectors": [
        {"charging_station_id": station_id, "connector_id": 1, "charging_capability": [16],
         "discharge_capability": []}]}, "children": []}]


async def test_an_organisation_attaches_only_its_own_stations(
        hub: RunningHub, admin: Api, token_api: Any) -> None:
    for station_id in ("CP-MINE", "CP-FREE", "CP-THEIRS"):
        await register_station(hub, station_id)
    await own(admin, "CP-MINE", "org-a")
    await own(admin, "CP-THEIRS", "org-b")
    writer_a = await token_api("org-a", "sites:write")
    status, site, _ = await writer_a.post("/sites", {"name": "A"})
    assert status == 201, site
    chargers = f"/sites/{site['id']}/chargers"

    # Not its own: unowned, or another organisation's. As a charger and in the fuse tree.
    for station_id in ("CP-FREE", "CP-THEIRS"):
        status, body, _ = await writer_a.post(chargers, charger(station_id))
        assert status == 400 and body["field"] == "ocpp_id", body
        status, body, _ = await writer_a.put(f"/sites/{site['id']}/fuse-tree", tree(station_id))
        assert status == 400 and "charging_station_id" in body["field"], body
    status, created, _ = await writer_a.post(chargers, charger("CP-MINE"))
    assert status == 201, created
    assert (await writer_a.put(f"/sites/{site['id']}/fuse-tree", tree("CP-MINE")))[0] == 200

    # An admin attaches an unowned station anywhere.
    status, body, _ = await admin.post(chargers, charger("CP-FREE"))
    assert status == 201, body


async def test_cross_organisation_errors_equal_unknown_id_errors(
        hub: RunningHub, admin: Api, token_api: Any) -> None:
    for station_id in ("CP-B", "CP-A-ON-B", "CP-FREE", "CP-A"):
        await register_station(hub, station_id, connectors=1)
    await own(admin, "CP-B", "org-b")
    await own(admin, "CP-A-ON-B", "org-a")
    await own(admin, "CP-A", "org-a")
    # org-b's site holds CP-B and, put there by an admin, org-a's CP-A-ON-B.
    status, site_b, _ = await admin.post("/sites", {
        "name": "B", "organization_id": "org-b",
        "chargers": [charger("CP-B", "DE*BBB*E1"), charger("CP-A-ON-B")]})
    assert status == 201, site_b
    writer_a = await token_api("org-a", "sites:write")
    writer_b = await token_api("org-b", "sites:write")
    _, site_a, _ = await writer_a.post("/sites", {"name": "A", "chargers": [charger("CP-A")]})
    a, b = site_a["id"], site_b["id"]
    a_charger = site_a["chargers"][0]["id"]
    assert (await writer_b.put("/rfid-cards/TAG-B", {"name": "B's card"}))[0] == 200

    requests = {
        "station on another org's charger": ("POST", f"/sites/{a}/chargers", charger("CP-B")),
        "own station on another org's charger": (
            "POST", f"/sites/{a}/chargers", charger("CP-A-ON-B")),
        "another org's station on a new site": (
            "POST", "/sites", {"name": "A2", "chargers": [charger("CP-B")]}),
        "relink a charger to another org's station": (
            "PATCH", f"/sites/{a}/chargers/{a_charger}", {"ocpp_id": "CP-B"}),
        "unowned station": ("POST", f"/sites/{a}/chargers", charger("CP-FREE")),
        "another org's station in the fuse tree": (
            "PUT", f"/sites/{a}/fuse-tree", tree("CP-B")),
        "another org's site": ("PATCH", f"/sites/{b}", {"name": "mine"}),
        "another org's site, read": ("GET", f"/sites/{b}", None),
        "another org's RFID card": ("DELETE", "/rfid-cards/TAG-B", None),
    }
    while_they_exist = {name: await raw(writer_a, *request) for name, request in requests.items()}

    # An admin removes every object of the other organisation (and the stations).
    assert (await writer_b.delete("/rfid-cards/TAG-B"))[0] == 204
    assert (await admin.delete(f"/sites/{b}"))[0] == 204
    for station_id in ("CP-B", "CP-A-ON-B", "CP-FREE"):
        await forget_station(hub, station_id)
    once_gone = {name: await raw(writer_a, *request) for name, request in requests.items()}
    assert while_they_exist == once_gone
    assert all(status >= 400 for status, _ in once_gone.values()), once_gone


async def test_another_organisations_evse_id_is_taken_but_not_located(
        hub: RunningHub, admin: Api, token_api: Any) -> None:
    """EvseIDs are unique across the hub, so a taken one cannot be answered like a free one
    (which succeeds); the answer says it is taken, never by which port."""
    await register_station(hub, "CP-B")
    await own(admin, "CP-B", "org-b")
    _, site_b, _ = await admin.post("/sites", {"name": "B", "organization_id": "org-b",
                                               "chargers": [charger("CP-B", "DE*BBB*E1")]})
    writer_a = await token_api("org-a", "sites:write")
    _, site_a, _ = await writer_a.post("/sites", {"name": "A", "chargers": [
        {"name": "C", "type": "Level 2"}]})
    path = f"/sites/{site_a['id']}/chargers/{site_a['chargers'][0]['id']}/ports"
    status, body, _ = await writer_a.post(path, {"name": "1", "port_number": 1,
                                                 "connector_type": "TYPE2",
                                                 "evse_id": "DE*BBB*E1"})
    assert site_b["chargers"][0]["ports"][0]["evse_id"] == "DE*BBB*E1"
    assert status == 400 and body == {"error": "invalid_request", "field": "evse_id",
                                      "detail": "evse_id: 'DE*BBB*E1' is not available"}


async def test_sites_are_created_for_existing_organisations_only(
        hub: RunningHub, admin: Api, token_api: Any) -> None:
    status, body, _ = await admin.post("/sites", {"name": "S", "organization_id": "acme-typo"})
    assert status == 400 and body["field"] == "organization_id", body
    _, page, _ = await admin.get("/sites")
    assert page["data"] == []
    status, body, _ = await admin.put("/rfid-cards/T1", {"organization_id": "acme-typo"})
    assert status == 400 and body["field"] == "organization_id"
    assert (await admin.put("/organisations/acme-typo", {"name": "Now real"}))[0] == 200
    status, site, _ = await admin.post("/sites", {"name": "S", "organization_id": "acme-typo"})
    assert status == 201 and site["account_id"] == "acme-typo"


async def test_only_an_admin_sets_a_stations_owner_and_secc_ids(
        hub: RunningHub, admin: Api, token_api: Any) -> None:
    await register_station(hub, "CP-1")
    path = "/api/stations/CP-1/identity"
    status, body, _ = await admin.patch(path, {"organization_id": "no-such-org"})
    assert status == 400 and body["field"] == "organization_id"
    status, body, _ = await admin.patch(path, {"secc_ids": ["DE*PNC*E1", "not an id"]})
    assert status == 400 and body["field"] == "secc_ids[1]"
    status, body, _ = await admin.patch(path, {"organization_id": "acme",
                                               "secc_ids": ["DE*PNC*E1"]})
    assert status == 200 and body == {"station_id": "CP-1", "organization_id": "acme",
                                      "secc_ids": ["DE*PNC*E1"],
                                      "certificate_names": ["CP-1", "DE*PNC*E1"]}
    status, body, _ = await admin.patch(path, {"secc_ids": []})  # owner unchanged
    assert status == 200 and (body["organization_id"], body["secc_ids"]) == ("acme", [])
    assert (await admin.get("/api/stations/CP-NONE/identity"))[0] == 404
    writer = await token_api("acme", "sites:write")
    assert (await writer.patch(path, {"organization_id": "acme"}))[0] == 403
    assert (await writer.get(path))[0] == 403


async def test_the_migration_gives_stations_on_a_charger_to_its_organisation(
        database_url: str) -> None:
    """0102_station_owner on a database written before it: a station on an organisation's
    charger becomes that organisation's; a station on no charger stays unowned; RFID cards
    become unique per organisation."""
    from alembic import command

    from hub.db import create_engine
    from hub.db.base import utcnow
    from hub.db.migrate import alembic_config, pending_revisions, upgrade_database
    from sites_api import MIGRATIONS

    engine = create_engine(database_url)
    cfg = alembic_config([MIGRATIONS])

    def before_the_fix(connection: sa.Connection) -> None:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "0005_diagnostics")
        command.upgrade(cfg, "0101_sites")

    now = utcnow()
    t = sa.table  # the tables as they were, without today's models
    stations = t("stations", sa.column("id"), sa.column("registration_status"),
                 sa.column("connected"), sa.column("created_at"))
    orgs = t("organisations", sa.column("id"), sa.column("key"), sa.column("name"),
             sa.column("created_at"))
    sites = t("sites", sa.column("id"), sa.column("organisation_id"), sa.column("name"),
              sa.column("status"), sa.column("timezone"), sa.column("version"),
              sa.column("created_at"), sa.column("updated_at"))
    chargers = t("chargers", sa.column("site_id"), sa.column("name"), sa.column("type"),
                 sa.column("station_id"), sa.column("created_at"))
    cards = t("rfid_cards", sa.column("organisation_id"), sa.column("id_tag"))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(before_the_fix)
            await conn.execute(sa.insert(stations), [
                {"id": s, "registration_status": "Accepted", "connected": False,
                 "created_at": now} for s in ("CP-ON", "CP-OFF")])
            await conn.execute(sa.insert(orgs), [
                {"id": 1, "key": "org-a", "name": "A", "created_at": now},
                {"id": 2, "key": "org-b", "name": "B", "created_at": now}])
            await conn.execute(sa.insert(sites).values(
                id=1, organisation_id=1, name="S", status="ACTIVE", timezone="UTC", version=1,
                created_at=now, updated_at=now))
            await conn.execute(sa.insert(chargers).values(
                site_id=1, name="C", type="DCFC", station_id="CP-ON", created_at=now))
            await conn.execute(sa.insert(cards).values(organisation_id=1, id_tag="TAG"))
        # The Sites chain (01xx) has its head, 0102_station_owner or a later one, still to run.
        assert any(r.startswith("01") for r in await pending_revisions(engine, [MIGRATIONS]))
        await upgrade_database(engine, [MIGRATIONS])
        # 0006_station_owner is applied as 0102's dependency, not recorded as a head of its own.
        assert await pending_revisions(engine, [MIGRATIONS]) == set()
        async with engine.begin() as conn:
            owners = dict((await conn.execute(sa.select(
                Station.id, Station.organisation_key))).all())
            assert owners == {"CP-ON": "org-a", "CP-OFF": None}
            await conn.execute(sa.insert(cards).values(organisation_id=2, id_tag="TAG"))
    finally:
        await engine.dispose()

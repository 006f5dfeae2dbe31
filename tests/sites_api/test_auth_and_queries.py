"""Organisation-scoped tokens, and the constant number of queries per page."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from ocpp.v16 import call

from sites_api.reader import READER
from sites_api.readmodel import MAX_QUERIES
from sites_api.routes import FLIPTURN_PAGE
from tests.harness import RunningHub, connect_station, now
from tests.sites_api.builders import full_site, register_station
from tests.sites_api.conftest import Api


async def test_tokens_see_only_their_organisations_sites(
        hub: RunningHub, admin: Api, token_api: Callable[..., Any]) -> None:
    await register_station(hub, "CP-A")
    await register_station(hub, "CP-B")
    _, site_a, _ = await admin.post("/sites", full_site("CP-A", org="org-a"))
    _, site_b, _ = await admin.post("/sites", full_site("CP-B", org="org-b"))
    reader_a = await token_api("org-a", "sites:read")
    writer_a = await token_api("org-a", "sites:write")
    no_org = await token_api(None, "sites:read")
    other_scope = await token_api("org-a", "metrics:read")  # a real scope, not for Sites

    _, page, _ = await reader_a.get("/sites")
    assert [s["id"] for s in page["data"]] == [site_a["id"]]
    _, flipturn, _ = await reader_a.get("/api/sites")
    assert [s["id"] for s in flipturn["data"]] == [int(site_a["id"])]
    assert (await reader_a.get(f"/sites/{site_a['id']}"))[0] == 200
    # Another organisation's site does not exist for this token: 404, not 403.
    status, body, _ = await reader_a.get(f"/sites/{site_b['id']}")
    assert status == 404 and body["error"] == "not_found"
    for method, path, payload in (
            ("PATCH", f"/sites/{site_b['id']}", {"name": "mine now"}),
            ("DELETE", f"/sites/{site_b['id']}", None),
            ("PUT", f"/sites/{site_b['id']}/fuse-tree", [])):
        status, _, _ = await writer_a.call(method, path, payload)
        assert status == 404, (method, path)

    # Reading needs sites:read (or write); writing needs sites:write.
    status, body, _ = await reader_a.patch(f"/sites/{site_a['id']}", {"name": "x"})
    assert status == 403 and "sites:write" in body["required_scopes"]
    assert (await writer_a.get("/sites"))[0] == 200
    assert (await other_scope.get("/sites"))[0] == 403
    assert (await no_org.get("/sites"))[1]["data"] == []

    # An organisation token creates sites in its own organisation only.
    status, created, _ = await writer_a.post("/sites", {"name": "A2"})
    assert status == 201 and created["account_id"] == "org-a"
    status, body, _ = await writer_a.post("/sites", {"name": "B2", "organization_id": "org-b"})
    assert status == 400 and body["field"] == "organization_id"
    status, body, _ = await admin.post("/sites", {"name": "nobody's"})
    assert status == 400 and body["field"] == "organization_id"

    # Admin sees all.
    _, page, _ = await admin.get("/sites")
    assert len(page["data"]) == 3


PAGE_TABLES = ("sites", "chargers", "ports", "fuse_", "local_controllers", "stations",
               "connectors", "transactions", "latest_readings", "organisations", "rfid_cards",
               "vehicles")


@contextmanager
def count_statements(hub: RunningHub) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        # The hub writes in the background (message log, last-seen flush): count reads only.
        # Other features poll in the background too (OICP outbox, Plug&Charge jobs, the pool's
        # pre-ping on PostgreSQL): count the reads of the tables a page is built from.
        text = statement.lstrip()
        if text.upper().startswith("SELECT") and "api_tokens" not in text and any(
                table in text for table in PAGE_TABLES):
            statements.append(statement)

    # Reads go through the hub's engine, or on SQLite through the Sites API's own thread engine.
    engines = [hub.hub.engine.sync_engine]
    if hub.app[READER].engine is not None:
        engines.append(hub.app[READER].engine)
    for engine in engines:
        sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        for engine in engines:
            sa.event.remove(engine, "before_cursor_execute", record)


def _charger(station_id: str | None, ports: int, n: int) -> dict[str, Any]:
    return {"name": f"C{n}", "type": "Level 2", "ocpp_id": station_id,
            "ports": [{"name": f"P{p}", "port_number": p, "connector_type": "J1772",
                       "maximum_power_kw": 11} for p in range(1, ports + 1)]}


async def test_a_page_costs_the_same_queries_whatever_its_size(hub: RunningHub,
                                                                admin: Api) -> None:
    async def queries(path: str) -> int:
        with count_statements(hub) as statements:
            status, _, _ = await admin.get(path)
        assert status == 200
        return len(statements)

    await register_station(hub, "CP-0", connectors=1)
    _, first, _ = await admin.post("/sites", full_site("CP-0"))
    one_site = await queries("/sites?limit=1")
    one_site_detail = await queries(f"/sites/{first['id']}")
    flipturn_one = await queries("/api/sites")

    # Many sites, each with chargers, ports, fuse trees, and live sessions on some ports.
    async with connect_station(hub, "CP-LIVE") as station:
        await station.boot()
        for connector in (1, 2):
            await station.call(call.StatusNotification(
                connector_id=connector, error_code="NoError", status="Charging",
                timestamp=now()))
        for n in range(12):
            await register_station(hub, f"CP-{n + 1}", connectors=3)
            body = full_site(f"CP-{n + 1}", name=f"Site {n}")
            body["chargers"] = [_charger(f"CP-{n + 1}", 3, 0), _charger(None, 2, 1)]
            if n == 5:
                body["chargers"].append(_charger("CP-LIVE", 2, 2))
            status, created, _ = await admin.post("/sites", body)
            assert status == 201, created
        for connector in (1, 2):
            started = await station.call(call.StartTransaction(
                connector_id=connector, id_tag="T", meter_start=0, timestamp=now()))
            await station.call(call.MeterValues(
                connector_id=connector, transaction_id=started.transaction_id,
                meter_value=[{"timestamp": now(), "sampled_value": [
                    {"value": "7000", "measurand": "Power.Active.Import", "unit": "W"},
                    {"value": "50", "measurand": "SoC", "unit": "Percent"}]}]))

        many = await queries("/sites?limit=100")
        _, page, _ = await admin.get("/sites?limit=100")
        live_site = next(s for s in page["data"] if s["name"] == "Site 5")
        live_site_detail = await queries(f"/sites/{live_site['id']}")
        flipturn_many = await queries("/api/sites")

    live_ports = [p for c in live_site["chargers"] for p in c["ports"]
                  if p["current_charging_session"]]
    assert len(live_ports) == 2
    assert live_ports[0]["current_charging_session"]["latest_readings"]["power_kw"]["value"] == 7
    assert len(page["data"]) == 13
    # Live sessions add their two reading queries; nothing grows with sites/chargers/ports.
    assert one_site <= many <= MAX_QUERIES
    assert one_site_detail <= live_site_detail <= MAX_QUERIES
    assert flipturn_one <= flipturn_many <= MAX_QUERIES
    assert many - one_site <= 2


async def test_flipturn_view_streams_every_site_page_by_page(admin: Api, token_api) -> None:
    """More sites than one streamed page (FLIPTURN_PAGE): every site once, in order, valid
    JSON across the page joins, and an organisation token still sees only its own."""
    count = 2 * FLIPTURN_PAGE + 30
    for org in ("org-a", "org-b"):  # created once, before the concurrent writes
        status, created, _ = await admin.post("/sites", {"name": "first", "organization_id": org})
        assert status == 201, created
        assert (await admin.delete(f"/sites/{created['id']}"))[0] == 204
    for start in range(0, count, 25):
        results = await asyncio.gather(*(
            admin.post("/sites", {"name": f"S{n}", "organization_id": f"org-{'ab'[n % 2]}"})
            for n in range(start, min(start + 25, count))))
        assert all(status == 201 for status, _, _ in results), results
    status, body, headers = await admin.get("/api/sites")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    ids = [site["id"] for site in body["data"]]
    assert len(ids) == count and ids == sorted(ids) and len(set(ids)) == count
    reader_a = await token_api("org-a", "sites:read")
    _, mine, _ = await reader_a.get("/api/sites")
    by_name = {site["name"]: site["id"] for site in body["data"]}
    assert [s["id"] for s in mine["data"]] == sorted(
        by_name[f"S{n}"] for n in range(0, count, 2))
    reader_c = await token_api("org-c", "sites:read")
    assert (await reader_c.get("/api/sites"))[1] == {"data": []}

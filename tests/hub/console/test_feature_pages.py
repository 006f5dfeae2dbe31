"""Pages features add to the console (hub.console.pages): Plug&Charge, OICP, sites; within the
user's organisation, and every string they show translated."""

from __future__ import annotations

import re
from pathlib import Path

from hub.console.i18n import GERMAN
from hub.db.base import utcnow
from hub.db.models import OutboxMessage, Station
from pnc.models import PncInstalledCertificate, PncJob
from tests.harness import RunningHub
from tests.hub.console.conftest import browser, login
from tests.hub.console.test_i18n import CALLS

ROOT = Path(__file__).resolve().parents[3]


async def test_feature_pages_in_the_menu_and_scoped(console_hub: RunningHub) -> None:
    async with console_hub.hub.sessions() as session, session.begin():
        session.add_all([Station(id="ORG-A-PNC", organisation_key="ORG-A"),
                         Station(id="ORG-B-PNC", organisation_key="ORG-B")])
        for station, serial in (("ORG-A-PNC", "a1a1"), ("ORG-B-PNC", "b2b2")):
            session.add(PncInstalledCertificate(
                station_id=station, certificate_type="V2GCertificateChain",
                hash_algorithm="SHA256", issuer_name_hash="00", issuer_key_hash="11",
                serial_number=serial, source="reported", seen_at=utcnow()))
        session.add(PncJob(kind="sign", key="job-b", station_id="ORG-B-PNC", state="pending",
                           step="step-zq9", payload={}))
        session.add(OutboxMessage(topic="oicp", ordering_key="cdr:S1", payload={},
                                  created_at=utcnow(), attempts=3,
                                  last_error="Hubject answered 3000"))
    async with browser() as http:
        assert (await login(http, console_hub, "alice")).status == 303
        async with http.get(console_hub.http_url + "/console/op_dashboard") as page:
            text = await page.text()
        assert 'href="/console/op_pnc"' in text and 'href="/console/op_oicp"' in text
        async with http.get(console_hub.http_url + "/console/op_pnc") as page:
            text = await page.text()
        assert "a1a1" in text and "b2b2" in text and "step-zq9" in text
        async with http.get(console_hub.http_url + "/console/op_oicp") as page:
            text = await page.text()
        assert "Hubject answered 3000" in text
    async with browser() as http:
        assert (await login(http, console_hub, "orgy")).status == 303
        async with http.get(console_hub.http_url + "/console/op_pnc") as page:
            text = await page.text()
        assert "a1a1" in text and "b2b2" not in text and "step-zq9" not in text
        async with http.get(console_hub.http_url + "/console/op_oicp") as page:
            assert page.status == 403


def test_feature_page_strings_are_translated() -> None:
    shown = set()
    for folder in ("pnc", "oicp", "sites_api"):
        for template in (ROOT / folder / "console_templates").glob("*.html"):
            shown |= {m.group(2) for m in CALLS.finditer(template.read_text())}
    import oicp.console_pages
    import pnc.console_pages
    import sites_api.console_pages

    german = {**GERMAN, **pnc.console_pages.GERMAN, **oicp.console_pages.GERMAN,
              **sites_api.console_pages.GERMAN}
    assert len(shown) > 20
    assert sorted(s for s in shown if s not in german) == []
    assert all(re.findall(r"{\w+}", k) == re.findall(r"{\w+}", v) for k, v in german.items())


async def test_sites_page_draws_the_fuse_tree_with_live_connectors(
        console_hub: RunningHub) -> None:
    from ocpp.v16 import call

    from sites_api.models import FuseNode, FuseNodeConnector, Organisation, Site
    from tests.harness import connect_station, now

    async with console_hub.hub.sessions() as session, session.begin():
        session.add(Station(id="CP-SITE", organisation_key="ORG-A"))
        org_a, org_b = Organisation(key="ORG-A", name="A"), Organisation(key="ORG-B", name="B")
        session.add_all([org_a, org_b])
        await session.flush()
        site = Site(organisation_id=org_a.id, name="Depot North")
        other = Site(organisation_id=org_b.id, name="Depot South")
        session.add_all([site, other])
        await session.flush()
        main = FuseNode(site_id=site.id, type="GRID_CONNECTION", name="Main 63A", limit=63.0)
        session.add(main)
        await session.flush()
        sub = FuseNode(site_id=site.id, parent_id=main.id, type="FUSE", name="Row B 32A",
                       limit=32.0)
        session.add(sub)
        await session.flush()
        session.add(FuseNodeConnector(node_id=sub.id, site_id=site.id, station_id="CP-SITE",
                                      connector_id=1, name="bay 7"))
    async with connect_station(console_hub, "CP-SITE") as station, browser() as http:
        await station.boot()
        await station.call(call.StatusNotification(connector_id=1, error_code="NoError",
                                                   status="Charging", timestamp=now()))
        assert (await login(http, console_hub, "orgy")).status == 303
        async with http.get(console_hub.http_url + "/console/op_sites") as page:
            text = await page.text()
        assert "Depot North" in text and "Depot South" not in text
        # The connector hangs under "Row B", which hangs under "Main": nested lists.
        main_at, row_at = text.index("Main 63A"), text.index("Row B 32A")
        bay_at = text.index("bay 7")
        assert main_at < row_at < bay_at
        assert text[main_at:bay_at].count("<ul>") == 2
        assert re.search(r"bay 7\)\s*: <strong>Charging</strong>", text)
    async with browser() as http:
        assert (await login(http, console_hub, "alice")).status == 303
        async with http.get(console_hub.http_url + "/console/op_sites") as page:
            text = await page.text()
        assert "Depot North" in text and "Depot South" in text

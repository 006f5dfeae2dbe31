"""Console pages over HTTP: monitoring, redirects, transactions with CSV, API tokens and users
(admin), the idle timeout, the user CLI. Real hub, real database, real `ocpp` stations."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import re
import subprocess
import sys
from pathlib import Path

from ocpp.v16 import call

from hub.console.sessions import CONSOLE_SESSIONS
from hub.db.models import Station
from hub.services import redirects
from tests.harness import RunningHub, connect_station, now, wait_for
from tests.hub.console.conftest import PASSWORD, browser, csrf_of, login

ROOT = Path(__file__).resolve().parents[3]


async def test_monitoring_pages_show_live_stations_within_the_users_scope(
        console_hub: RunningHub) -> None:
    async with console_hub.hub.sessions() as session, session.begin():
        session.add_all([Station(id="ORG-A-MON", organisation_key="ORG-A"),
                         Station(id="ORG-B-MON", organisation_key="ORG-B")])
    await redirects.save(console_hub.hub, "ORG-B-MON", {
        "target_url": "ws://user:secret@upstream.example/ocpp", "mode": "relay",
        "enabled": True}, "test")
    await redirects.save(console_hub.hub, "ORG-A-MON", {
        "target_url": "ws://upstream.example/ocpp", "mode": "relay", "enabled": True}, "test")
    async with connect_station(console_hub, "ORG-A-MON") as a, \
            connect_station(console_hub, "ORG-B-MON") as b, browser() as http:
        await a.boot()
        await b.boot()
        assert (await login(http, console_hub, "alice")).status == 303
        async with http.get(console_hub.http_url + "/console/op_ping_monitor") as page:
            text = await page.text()
        assert "ORG-A-MON" in text and "ORG-B-MON" in text
        async with http.get(console_hub.http_url + "/console/op_performance") as page:
            text = await page.text()
        assert "BootNotification" in text
        async with http.get(console_hub.http_url + "/console/op_redirects") as page:
            text = await page.text()
        assert "ws://upstream.example/ocpp" in text and "secret" not in text
        async with http.get(console_hub.http_url
                            + "/console/op_marked_wallboxes/ORG-A-MON/history") as page:
            assert "created" in await page.text()
    async with connect_station(console_hub, "ORG-A-MON") as a, \
            connect_station(console_hub, "ORG-B-MON"), browser() as http:
        await a.boot()
        assert (await login(http, console_hub, "orgy")).status == 303
        async with http.get(console_hub.http_url + "/console/op_ping_monitor") as page:
            text = await page.text()
        assert "ORG-A-MON" in text and "ORG-B-MON" not in text
        assert re.search(r"ORG-A-MON</a></td>(<td[^>]*>[^<]*</td>){5}<td>1</td>", text)
        async with http.get(console_hub.http_url + "/console/op_redirects") as page:
            text = await page.text()
        assert "ORG-A-MON" in text and "ORG-B-MON" not in text
        async with http.get(console_hub.http_url
                            + "/console/op_marked_wallboxes/ORG-B-MON/history") as page:
            assert page.status == 404


async def test_transactions_page_and_csv_export(console_hub: RunningHub) -> None:
    async with connect_station(console_hub, "CP-TX") as station, browser() as http:
        await station.boot()
        started = await station.call(call.StartTransaction(
            connector_id=1, id_tag="=HYPERLINK(1)", meter_start=1000, timestamp=now()))
        await station.call(call.StopTransaction(meter_stop=4500, timestamp=now(),
                                                transaction_id=started.transaction_id))
        assert (await login(http, console_hub, "victor")).status == 303
        async with http.get(console_hub.http_url + "/console/transactions?station=CP-TX") as p:
            assert str(started.transaction_id) in await p.text()
        async with http.get(console_hub.http_url
                            + "/console/transactions.csv?station=CP-TX") as response:
            assert response.headers["Content-Type"].startswith("text/csv")
            rows = list(csv.DictReader(io.StringIO(await response.text())))
        assert [(r["id"], r["energy_wh"], r["status"]) for r in rows] == [
            (str(started.transaction_id), "3500", "completed")]
        assert rows[0]["id_tag"] == "'=HYPERLINK(1)"  # no formula for a spreadsheet


async def test_admin_creates_and_revokes_an_api_token_and_adds_a_user(
        console_hub: RunningHub) -> None:
    async with browser() as http:
        assert (await login(http, console_hub, "alice")).status == 303
        page_url = console_hub.http_url + "/console/api_tokens"
        token = await csrf_of(http, page_url)
        async with http.post(page_url, data={"csrf": token, "name": "export job",
                                             "scopes": "read"}) as response:
            assert response.status == 201
            secret = re.search(r'id="new-token">([^<]+)<', await response.text()).group(1)
        async with http.get(console_hub.http_url + "/api/api-tokens",
                            headers={"Authorization": f"Bearer {secret}"}) as api:
            assert api.status == 403  # a read token: valid, but not an admin
        async with http.get(console_hub.http_url + "/api/connected_stations",
                            headers={"Authorization": f"Bearer {secret}"}) as api:
            assert api.status == 200
        async with http.get(page_url) as page:
            token_id = re.search(r"<td>(\d+)</td><td>export job</td>", await page.text()).group(1)
        async with http.post(page_url + f"/{token_id}/revoke", data={"csrf": token}) as page:
            assert f"Token {token_id} revoked." in await page.text()
        async with http.get(console_hub.http_url + "/api/connected_stations",
                            headers={"Authorization": f"Bearer {secret}"}) as api:
            assert api.status == 401

        users_url = console_hub.http_url + "/console/users"
        async with http.post(users_url, data={"csrf": token, "username": "newbie",
                                              "password": "short", "role": "viewer"}) as page:
            assert page.status == 400
            assert "password: must be 10" in await page.text()
        async with http.post(users_url, data={"csrf": token, "username": "newbie",
                                              "password": PASSWORD, "role": "viewer"}) as page:
            assert "User newbie saved." in await page.text()
    async with browser() as http:
        assert (await login(http, console_hub, "newbie")).status == 303


async def test_idle_session_ends_and_disabling_a_user_ends_its_session(
        console_hub: RunningHub) -> None:
    clock = [1000.0]
    sessions = console_hub.app[CONSOLE_SESSIONS]
    sessions.clock = lambda: clock[0]
    async with browser() as http, browser() as admin:
        assert (await login(http, console_hub, "olga")).status == 303
        clock[0] += sessions.idle - 5
        async with http.get(console_hub.http_url + "/console/op_dashboard",
                            allow_redirects=False) as page:
            assert page.status == 200  # used within the idle time: still open
        clock[0] += sessions.idle + 1
        async with http.get(console_hub.http_url + "/console/op_dashboard",
                            allow_redirects=False) as page:
            assert page.status == 303
        assert (await login(http, console_hub, "olga")).status == 303
        assert (await login(admin, console_hub, "alice")).status == 303
        token = await csrf_of(admin, console_hub.http_url + "/console/users")
        async with admin.post(console_hub.http_url + "/console/users/olga",
                              data={"csrf": token, "do": "disable"}) as page:
            assert page.status == 200
        async with http.get(console_hub.http_url + "/console/op_dashboard",
                            allow_redirects=False) as page:
            assert page.status == 303
        assert (await login(http, console_hub, "olga")).status == 401


async def test_op_details_tails_new_messages(console_hub: RunningHub) -> None:
    async with connect_station(console_hub, "CP-TAIL") as station, browser() as http:
        await station.boot()
        assert (await login(http, console_hub, "victor")).status == 303
        async with http.get(console_hub.http_url + "/console/op_details/CP-TAIL/events") as s:
            assert s.headers["Content-Type"] == "text/event-stream"
            await station.call(call.StatusNotification(
                connector_id=1, error_code="NoError", status="Finishing", timestamp=now()))
            seen = b""

            async def message_arrived() -> bool:
                nonlocal seen
                with contextlib.suppress(TimeoutError):
                    seen += await asyncio.wait_for(s.content.readany(), 1.0)
                return b'"action": "StatusNotification"' in seen and b"Finishing" in seen

            await wait_for(message_arrived, timeout=30)


def test_user_cli(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"

    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "hub", "user", *args, "--database-url",
                               url], input=stdin, capture_output=True, text=True, cwd=ROOT,
                              env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
                              timeout=120)

    assert cli("add", "root", "--role", "admin", stdin=PASSWORD + "\n").returncode == 0
    short = cli("add", "bob", stdin="short\n")
    assert short.returncode == 2 and "password: must be 10" in short.stderr
    assert cli("add", "root", stdin=PASSWORD + "\n").returncode == 2  # exists
    assert cli("passwd", "root", stdin="another long password\n").returncode == 0
    assert cli("disable", "root").returncode == 0
    listing = cli("list")
    assert listing.stdout.split() == ["root", "admin", "-", "disabled"]
    assert "disabled" in cli("login-link", "root").stderr
    assert cli("enable", "root").returncode == 0
    link = cli("login-link", "root", "--base-url", "https://hub.example/")
    assert re.search(r"^https://hub.example/console/op_directlogin\?token=[\w-]{40,}$",
                     link.stdout, re.M)


async def test_diagnostics_files_download_within_the_organisation(
        console_hub: RunningHub) -> None:
    import hashlib

    from hub.db.base import utcnow
    from hub.files.models import StoredFile

    root = Path(console_hub.files_dir)
    ids = {}
    async with console_hub.hub.sessions() as session, session.begin():
        session.add_all([Station(id="ORG-A-DIAG", organisation_key="ORG-A"),
                         Station(id="ORG-B-DIAG", organisation_key="ORG-B")])
        for station in ("ORG-A-DIAG", "ORG-B-DIAG"):
            body = f"log of {station}".encode()
            (root / "diagnostics").mkdir(parents=True, exist_ok=True)
            (root / "diagnostics" / f"{station}.log").write_bytes(body)
            row = StoredFile(kind="diagnostics", name=f"{station}.log",
                             relpath=f"diagnostics/{station}.log", station_id=station,
                             size=len(body), sha256=hashlib.sha256(body).hexdigest(),
                             source="http", created_at=utcnow())
            session.add(row)
            await session.flush()
            ids[station] = row.id
    async with browser() as http:
        assert (await login(http, console_hub, "orgy")).status == 303
        async with http.get(console_hub.http_url + "/console/op_diagnostics") as page:
            text = await page.text()
        assert "ORG-A-DIAG.log" in text and "ORG-B-DIAG.log" not in text
        async with http.get(console_hub.http_url
                            + f"/console/files/{ids['ORG-A-DIAG']}") as response:
            assert await response.read() == b"log of ORG-A-DIAG"
        async with http.get(console_hub.http_url
                            + f"/console/files/{ids['ORG-B-DIAG']}") as response:
            assert response.status == 404


async def test_station_diagnosis_finds_errors_reboots_and_zero_energy(
        console_hub: RunningHub) -> None:
    async with connect_station(console_hub, "CP-DIAG") as station, browser() as http:
        for _ in range(3):
            await station.boot()
        await station.call(call.StatusNotification(
            connector_id=1, error_code="GroundFailure", status="Faulted", timestamp=now(),
            vendor_error_code="E42"))
        started = await station.call(call.StartTransaction(
            connector_id=1, id_tag="TAG-0", meter_start=500, timestamp=now()))
        await station.call(call.StopTransaction(meter_stop=500, timestamp=now(),
                                                transaction_id=started.transaction_id))
        assert (await login(http, console_hub, "victor")).status == 303
        url = console_hub.http_url + "/console/op_ai_diagnostics/CP-DIAG"

        async def findings() -> str | None:
            async with http.get(url) as page:
                text = await page.text()
            # The message log is written in batches: wait until the boots are in.
            return text if "3 boots in 24 h" in text and "GroundFailure" in text else None

        text = await wait_for(findings, timeout=30)
        assert "connector 1: GroundFailure (vendor E42)" in text
        assert 'id="finding-zero_energy"' in text
        assert f"transaction {started.transaction_id}: 500 → 500 Wh" in text
    async with browser() as http:
        assert (await login(http, console_hub, "orgy")).status == 303
        async with http.get(console_hub.http_url + "/console/op_ai_diagnostics/CP-DIAG") as p:
            assert p.status == 404  # not the organisation's station


async def test_station_page_draws_the_sessions_power_curve(console_hub: RunningHub) -> None:
    async with connect_station(console_hub, "CP-CURVE") as station, browser() as http:
        await station.boot()
        started = await station.call(call.StartTransaction(
            connector_id=1, id_tag="TAG-1", meter_start=0, timestamp=now()))
        for stamp, watts in (("2026-01-01T00:00:00Z", 1000), ("2026-01-01T00:00:30Z", 7000),
                             ("2026-01-01T00:01:00Z", 11000)):
            await station.call(call.MeterValues(
                connector_id=1, transaction_id=started.transaction_id, meter_value=[{
                    "timestamp": stamp, "sampled_value": [{
                        "value": str(watts), "measurand": "Power.Active.Import",
                        "unit": "W"}]}]))
        assert (await login(http, console_hub, "victor")).status == 303

        async def curve() -> str | None:
            async with http.get(console_hub.http_url + "/console/stations/CP-CURVE") as page:
                match = re.search(r'<polyline points="([^"]+)"', await page.text())
            return match.group(1) if match else None

        points = await wait_for(curve, timeout=30)
        # Three samples over 60 s, scaled to 600 x 120: the highest at the top right.
        assert points == "0.0,109.1 300.0,43.6 600.0,0.0"


async def test_dashboard_figures_connection_info_and_own_password(
        console_hub: RunningHub) -> None:
    async with connect_station(console_hub, "CP-DASH") as station, browser() as http:
        await station.boot()
        await station.call(call.StatusNotification(connector_id=1, error_code="NoError",
                                                   status="Charging", timestamp=now()))
        await station.call(call.StartTransaction(connector_id=1, id_tag="TAG-D",
                                                 meter_start=0, timestamp=now()))
        async with console_hub.hub.sessions() as session, session.begin():
            session.add(Station(id="CP-ASLEEP"))
        assert (await login(http, console_hub, "olga")).status == 303

        async def dashboard() -> str | None:
            async with http.get(console_hub.http_url + "/console/op_dashboard") as page:
                text = await page.text()
            return text if "<td>Charging</td><td>1</td>" in text else None

        text = await wait_for(dashboard)
        assert '<span id="online">1</span> / 2' in text
        assert 'id="active-sessions">1</a>' in text
        async with http.get(console_hub.http_url + "/console/op_connection_info") as page:
            text = await page.text()
        assert f"ws://127.0.0.1:{console_hub.port}/ocpp/{{station_id}}" in text

        url = console_hub.http_url + "/console/op_change_password"
        token = await csrf_of(http, url)
        async with http.post(url, data={"csrf": token, "current": "not my password",
                                        "new": "a brand new password"}) as page:
            assert page.status == 400
        async with http.post(url, data={"csrf": token, "current": PASSWORD,
                                        "new": "a brand new password"}) as page:
            assert "Password changed." in await page.text()
    async with browser() as http:
        assert (await login(http, console_hub, "olga")).status == 401
        assert (await login(http, console_hub, "olga", "a brand new password")).status == 303

"""The console over HTTP (no browser): login, session cookie, CSRF, roles, organisation scope,
one-time links, throttling, and /api/docs opened by the console session."""

from __future__ import annotations

import re

from hub.console.sessions import COOKIE
from hub.console.users import create_login_link
from hub.console.views_commands import TRIGGERS
from hub.db.models import Station
from tests.harness import RunningHub, connect_station
from tests.hub.console.conftest import PASSWORD, browser, csrf_of, login


async def test_login_sets_a_strict_httponly_session_and_logout_ends_it(
        console_hub: RunningHub) -> None:
    async with browser() as http:
        async with http.get(console_hub.http_url + "/console/op_dashboard",
                            allow_redirects=False) as response:
            assert response.status == 303
            assert response.headers["Location"].startswith("/console/?next=")
        bad = await login(http, console_hub, "alice", "wrong password!")
        assert bad.status == 401
        response = await login(http, console_hub, "alice")
        assert response.status == 303
        cookie = response.cookies[COOKIE]
        assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/"
        async with http.get(console_hub.http_url + "/console/op_dashboard") as page:
            assert page.status == 200
            assert "alice" in await page.text()
        # The console session opens the API reference too.
        async with http.get(console_hub.http_url + "/api/openapi.json") as doc:
            assert doc.status == 200
            assert "/console/op_dashboard" in (await doc.json())["paths"]
        token = await csrf_of(http, console_hub.http_url + "/console/op_dashboard")
        async with http.post(console_hub.http_url + "/console/logout", data={"csrf": token},
                             allow_redirects=False) as out:
            assert out.status == 303
        async with http.get(console_hub.http_url + "/console/op_dashboard",
                            allow_redirects=False) as after:
            assert after.status == 303
        async with http.get(console_hub.http_url + "/api/openapi.json") as doc:
            assert doc.status == 401


async def test_posts_without_the_csrf_token_are_refused(console_hub: RunningHub) -> None:
    async with browser() as http:
        # Before login: the login form's double-submit token is required.
        async with http.post(console_hub.http_url + "/console/login", data={
                "username": "alice", "password": PASSWORD}, allow_redirects=False) as response:
            assert response.status == 403
        assert (await login(http, console_hub, "alice")).status == 303
        async with http.post(console_hub.http_url + "/console/users", data={
                "username": "mallory", "password": PASSWORD, "role": "admin"},
                allow_redirects=False) as response:
            assert response.status == 403
        async with http.post(console_hub.http_url + "/console/users", data={
                "csrf": "forged", "username": "mallory", "password": PASSWORD,
                "role": "admin"}, allow_redirects=False) as response:
            assert response.status == 403
        async with http.get(console_hub.http_url + "/console/users") as page:
            assert "mallory" not in await page.text()


async def test_a_viewer_sees_no_commands_and_its_command_post_is_refused(
        console_hub: RunningHub) -> None:
    async with connect_station(console_hub, "CP-VIEW") as station, browser() as http:
        await station.boot()
        assert (await login(http, console_hub, "victor")).status == 303
        token = await csrf_of(http, console_hub.http_url + "/console/stations/CP-VIEW")
        async with http.get(console_hub.http_url + "/console/stations/CP-VIEW") as page:
            assert 'id="commands"' not in await page.text()
        async with http.post(console_hub.http_url + "/console/stations/CP-VIEW/commands",
                             data={"csrf": token, "command": "reset", "type": "Soft"},
                             allow_redirects=False) as response:
            assert response.status == 403
        assert not [r for r in station.received if r.action == "Reset"]
        async with http.get(console_hub.http_url + "/console/users") as page:
            assert page.status == 403  # admin only


async def test_an_organisations_user_sees_only_its_stations(console_hub: RunningHub) -> None:
    async with console_hub.hub.sessions() as session, session.begin():
        session.add_all([Station(id="ORG-A-1", organisation_key="ORG-A"),
                         Station(id="ORG-B-1", organisation_key="ORG-B"),
                         Station(id="NOBODY-1")])
    async with browser() as http:
        assert (await login(http, console_hub, "orgy")).status == 303
        async with http.get(console_hub.http_url + "/console/stations") as page:
            text = await page.text()
        assert "ORG-A-1" in text and "ORG-B-1" not in text and "NOBODY-1" not in text
        for route in ("stations/{}", "stations/{}/events", "op_details/{}",
                      "op_details/{}/events", "op_ai_diagnostics/{}"):
            async with http.get(console_hub.http_url + "/console/" + route.format("ORG-B-1"),
                                allow_redirects=False) as page:
                assert page.status == 404, route
        token = await csrf_of(http, console_hub.http_url + "/console/stations")
        async with http.post(console_hub.http_url + "/console/stations/ORG-B-1/commands",
                             data={"csrf": token, "command": "reset", "type": "Soft"},
                             allow_redirects=False) as response:
            assert response.status == 404
    async with browser() as http:
        assert (await login(http, console_hub, "alice")).status == 303
        async with http.get(console_hub.http_url + "/console/stations") as page:
            text = await page.text()
        assert "ORG-A-1" in text and "ORG-B-1" in text and "NOBODY-1" in text


async def test_one_time_login_link_works_once(console_hub: RunningHub) -> None:
    token = await create_login_link(console_hub.hub.sessions, "olga")
    url = console_hub.http_url + f"/console/op_directlogin?token={token}"
    async with browser() as http:
        async with http.get(url, allow_redirects=False) as response:
            assert response.status == 303
            assert response.headers["Location"] == "/console/op_dashboard"
        async with http.get(console_hub.http_url + "/console/op_dashboard") as page:
            assert "olga" in await page.text()
    async with browser() as http, http.get(url, allow_redirects=False) as again:
        assert again.status == 401


async def test_failed_logins_are_throttled_per_username(console_hub: RunningHub) -> None:
    async with browser() as http:
        statuses = [(await login(http, console_hub, "olga", "wrong password!")).status
                    for _ in range(7)]
        assert statuses[:5] == [401] * 5 and 429 in statuses[5:]
        # Even the right password waits while the username is blocked.
        assert (await login(http, console_hub, "olga")).status == 429


async def test_operator_sends_reset_and_sees_the_chargers_answer(
        console_hub: RunningHub) -> None:
    from ocpp.v16 import call_result

    async with connect_station(console_hub, "CP-OP") as station, browser() as http:
        await station.boot()
        station.answers["Reset"] = call_result.Reset(status="Rejected")
        assert (await login(http, console_hub, "olga")).status == 303
        token = await csrf_of(http, console_hub.http_url + "/console/stations/CP-OP")
        async with http.get(console_hub.http_url + "/console/stations/CP-OP") as page:
            offered = re.search(r'<select id="trigger-message" name="message">(.*?)</select>',
                                await page.text())
        assert offered and re.findall("<option>(\\w+)</option>", offered.group(1)) == list(
            TRIGGERS)  # every message the command accepts, and no other
        async with http.post(console_hub.http_url + "/console/stations/CP-OP/commands",
                             data={"csrf": token, "command": "reset", "type": "Hard"}) as page:
            text = await page.text()
        assert "The station answered Reset: Rejected" in text
        assert [r.payload for r in station.received if r.action == "Reset"] == [{"type": "Hard"}]
        async with http.post(console_hub.http_url + "/console/stations/CP-OP/commands",
                             data={"csrf": token, "command": "get_configuration"}) as page:
            text = await page.text()
        assert "The station answered GetConfiguration: 2 keys" in text
        assert "HeartbeatInterval" in text  # stored by the command's effect, shown in the table

"""Two hubs on one database (as behind a cluster's load balancer): a console login on one node
is a login on the other; logout, disabling and idle expiry end it on both."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp
from yarl import URL

from hub.console.sessions import CONSOLE_SESSIONS, COOKIE, IDLE_SECONDS
from hub.console.users import add_user
from tests.harness import RunningHub
from tests.hub.console.conftest import PASSWORD, browser, csrf_of, login


async def _two_nodes(hub_factory: Callable[..., Any]) -> tuple[RunningHub, RunningHub]:
    node_a: RunningHub = await hub_factory(dev=True)
    node_b: RunningHub = await hub_factory(dev=True)
    await add_user(node_a.hub.sessions, "alice", PASSWORD, "admin")
    await add_user(node_a.hub.sessions, "victor", PASSWORD, "viewer")
    return node_a, node_b


async def _status(http: aiohttp.ClientSession, url: str) -> int:
    async with http.get(url, allow_redirects=False) as response:
        await response.read()
        return response.status


async def test_a_login_on_one_node_works_on_the_other_until_logout(
        hub_factory: Callable[..., Any]) -> None:
    node_a, node_b = await _two_nodes(hub_factory)
    async with browser() as http:  # one cookie jar for both nodes: the balancer's view
        assert (await login(http, node_a, "alice")).status == 303
        cookie = http.cookie_jar.filter_cookies(URL(node_a.http_url))[COOKIE].value
        assert await _status(http, node_b.http_url + "/console/op_dashboard") == 200
        # A form from node B posted to node A: one session, one CSRF token.
        token = await csrf_of(http, node_b.http_url + "/console/users")
        async with http.post(node_a.http_url + "/console/users", allow_redirects=False, data={
                "csrf": token, "username": "bob", "password": PASSWORD,
                "role": "viewer"}) as response:
            assert response.status == 303, await response.text()
        # The flash written on A is shown by B, once.
        async with http.get(node_b.http_url + "/console/users") as response:
            assert "User bob saved." in await response.text()
        async with http.get(node_a.http_url + "/console/users") as response:
            assert "User bob saved." not in await response.text()
        async with http.post(node_a.http_url + "/console/logout", allow_redirects=False,
                             data={"csrf": token}) as response:
            assert response.status == 303
    # The old cookie, offered again to the other node after logout: refused.
    async with aiohttp.ClientSession(cookies={COOKIE: cookie}) as other:
        assert await _status(other, node_b.http_url + "/console/op_dashboard") == 303


async def test_disabling_ends_the_session_on_every_node(
        hub_factory: Callable[..., Any]) -> None:
    node_a, node_b = await _two_nodes(hub_factory)
    async with browser() as admin, browser() as viewer:
        await login(admin, node_a, "alice")
        await login(viewer, node_b, "victor")
        assert await _status(viewer, node_a.http_url + "/console/op_dashboard") == 200
        token = await csrf_of(admin, node_a.http_url + "/console/users")
        async with admin.post(node_a.http_url + "/console/users/victor", allow_redirects=False,
                              data={"csrf": token, "do": "disable"}) as response:
            assert response.status == 303
        for node in (node_b, node_a):
            assert await _status(viewer, node.http_url + "/console/op_dashboard") == 303


async def test_idle_expiry_and_tampered_cookies_on_the_other_node(
        hub_factory: Callable[..., Any]) -> None:
    node_a, node_b = await _two_nodes(hub_factory)
    clock = [2_000_000_000.0]
    for node in (node_a, node_b):
        node.app[CONSOLE_SESSIONS].clock = lambda: clock[0]
    async with browser() as http:
        await login(http, node_a, "alice")
        cookie = http.cookie_jar.filter_cookies(URL(node_a.http_url))[COOKIE].value
        clock[0] += IDLE_SECONDS / 2
        assert await _status(http, node_b.http_url + "/console/op_dashboard") == 200
        clock[0] += IDLE_SECONDS / 2 + 1  # idle since the last request (on B), not the login
        assert await _status(http, node_a.http_url + "/console/op_dashboard") == 200
        for wrong in (cookie[:-1] + ("A" if cookie[-1] != "A" else "B"), cookie + "x",
                      "unknown"):
            async with aiohttp.ClientSession(cookies={COOKIE: wrong}) as other:
                assert await _status(other, node_b.http_url + "/console/op_dashboard") == 303
        clock[0] += IDLE_SECONDS
        assert await _status(http, node_b.http_url + "/console/op_dashboard") == 303
        assert await _status(http, node_a.http_url + "/console/op_dashboard") == 303

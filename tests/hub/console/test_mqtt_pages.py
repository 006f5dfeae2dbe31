"""The console's MQTT pages over HTTP with a logged-in session: against the real Mosquitto
(``PNC_HUB_TEST_MQTT_URL``) a meter reading shows on ``op_energymqtt`` and an ignored topic
reaches no meter; who may edit the list; and the pages without a broker."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import aiohttp

from hub.console.users import add_user
from hub.mqtt import MQTT
from tests.harness import RunningHub, wait_for
from tests.hub.console.conftest import PASSWORD, browser, csrf_of, login
from tests.hub.mqtt.broker import MQTT_URL, needs_broker, publisher, random_prefix

PAGES = ("op_mqtt_status", "op_energymqtt", "op_energymqtt_ignore", "op_energymqtt_disconnected")


async def mqtt_console_hub(hub_factory: Callable[..., Any], prefix: str | None) -> RunningHub:
    """A hub with console users; with ``prefix``, linked to the test broker, watching
    ``<prefix>/energy/#`` and with a site meter on ``<prefix>/meters/+``."""
    mqtt = {} if prefix is None else {"url": MQTT_URL, "topic_prefix": "",
                                      "watch_topics": [f"{prefix}/energy/#"]}
    running: RunningHub = await hub_factory(dev=True, mqtt=mqtt)
    for name, role, org in (("alice", "admin", None), ("victor", "viewer", None),
                            ("orgy", "operator", "ORG-A")):
        await add_user(running.hub.sessions, name, PASSWORD, role, org)
    return running


async def page_text(http: aiohttp.ClientSession, running: RunningHub, name: str,
                    status: int = 200) -> str:
    async with http.get(f"{running.http_url}/console/{name}", allow_redirects=False) as resp:
        text = await resp.text()
        assert resp.status == status, text
        return html.unescape(text)


async def save_ignored(http: aiohttp.ClientSession, running: RunningHub, topics: str,
                       csrf: str | None) -> tuple[int, str]:
    data = {"topics": topics} if csrf is None else {"topics": topics, "csrf": csrf}
    async with http.post(running.http_url + "/console/op_energymqtt_ignore", data=data,
                         allow_redirects=False) as resp:
        return resp.status, html.unescape(await resp.text())


@needs_broker
async def test_a_meter_reading_shows_and_an_ignored_topic_reaches_no_meter(
        hub_factory: Callable[..., Any]) -> None:
    prefix = random_prefix()
    running = await mqtt_console_hub(hub_factory, prefix)
    link = running.app[MQTT]
    readings: list[bytes] = []
    meter = f"{prefix}/meters/main"
    link.subscribe(f"{prefix}/meters/+", "site meter M1", lambda t, data: readings.append(data))
    link.subscribe(f"{prefix}/quiet", "site meter M2", lambda t, data: None)
    await wait_for(lambda: link.state.connected, timeout=15)
    async with browser() as http:
        await login(http, running, "alice")
        silent = await page_text(http, running, "op_energymqtt_disconnected")
        assert "site meter M1" in silent and "site meter M2" in silent
        async with publisher() as client:
            await client.publish(meter, b"7.4 kW", qos=1)
            await wait_for(lambda: readings == [b"7.4 kW"], timeout=15)
        topics = await page_text(http, running, "op_energymqtt")
        row = topics[topics.index(meter):].split("</tr>")[0]
        assert "7.4 kW" in row and "site meter M1" in row
        silent = await page_text(http, running, "op_energymqtt_disconnected")
        assert "site meter M1" not in silent and "site meter M2" in silent

        token = await csrf_of(http, running.http_url + "/console/op_energymqtt_ignore")
        status, text = await save_ignored(http, running, f"{meter}\na/#/b", token)
        assert status == 400 and "topics[1]: '#' must be a whole level" in text
        assert link.ignored == []  # nothing of a refused list is kept
        status, _ = await save_ignored(http, running, f"{meter}\n\n{meter}\n", token)
        assert status == 303
        page = await page_text(http, running, "op_energymqtt_ignore")
        assert "1 ignored topic filters saved." in page
        listed = page[page.index('id="ignored-topics"'):].split("</ul>")[0]
        assert f"<li><code>{meter}</code></li>" in listed
        async with publisher() as client:
            await client.publish(meter, b"9.9 kW", qos=1)
            await wait_for(lambda: link.state.ignored == 1, timeout=15)
        assert readings == [b"7.4 kW"]  # the meter no longer hears it
        assert link.subscriptions[f"{prefix}/meters/+"].messages == 1
        status_page = await page_text(http, running, "op_mqtt_status")
        assert '<dd id="mqtt-ignored">1</dd>' in status_page
        topics = await page_text(http, running, "op_energymqtt")
        row = topics[topics.index(meter):].split("</tr>")[0]
        assert "9.9 kW" in row and "<td>2</td>" in row and "<td>yes</td>" in row
    # The API shows the list the console saved (one service behind both).
    async with aiohttp.ClientSession(headers=running.auth) as api, \
            api.get(running.http_url + "/api/mqtt/ignored-topics") as resp:
        assert (await resp.json())["topics"] == [meter]


async def test_only_an_admin_with_the_csrf_token_edits_the_ignored_list(
        hub_factory: Callable[..., Any]) -> None:
    running = await mqtt_console_hub(hub_factory, None)
    link = running.app[MQTT]
    async with browser() as viewer:
        await login(viewer, running, "victor")
        page = await page_text(viewer, running, "op_energymqtt_ignore")
        assert "Only an admin may change this list." in page and "<textarea" not in page
        token = await csrf_of(viewer, running.http_url + "/console/op_energymqtt_ignore")
        assert (await save_ignored(viewer, running, "tele/+/LWT", token))[0] == 403
    async with browser() as admin:
        await login(admin, running, "alice")
        assert (await save_ignored(admin, running, "tele/+/LWT", None))[0] == 403
        assert (await save_ignored(admin, running, "tele/+/LWT", "forged"))[0] == 403
        assert link.ignored == []
        token = await csrf_of(admin, running.http_url + "/console/op_energymqtt_ignore")
        assert (await save_ignored(admin, running, "tele/+/LWT", token))[0] == 303
        assert link.ignored == ["tele/+/LWT"]
    async with browser() as org_user:  # topics are estate-wide: not for an organisation
        await login(org_user, running, "orgy")
        for name in PAGES[1:]:
            await page_text(org_user, running, name, status=403)
        assert "MQTT is not configured." in await page_text(org_user, running, PAGES[0])


async def test_without_a_broker_every_page_says_mqtt_is_not_configured(
        hub_factory: Callable[..., Any]) -> None:
    running = await mqtt_console_hub(hub_factory, None)
    async with browser() as http:
        await login(http, running, "victor")
        dashboard = await page_text(http, running, "op_dashboard")
        assert 'href="/console/op_mqtt_status"' in dashboard  # in the menu
        for name in PAGES:
            assert "MQTT is not configured." in await page_text(http, running, name)
        http.cookie_jar.update_cookies({"pnc_hub_lang": "de"})
        for name in PAGES:
            assert "MQTT ist nicht konfiguriert." in await page_text(http, running, name)

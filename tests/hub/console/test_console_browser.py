"""The console in a real browser: Debian's chromium driven by Playwright (no browser download).

Skipped when chromium or Playwright is absent (``.ci/run`` installs chromium with apt-get).
Each test is one flow; a failing test saves a screenshot to its pytest tmp_path.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from ocpp.v16 import call

from hub.db.models import Station
from tests.harness import RunningHub, connect_station, now
from tests.hub.console.conftest import PASSWORD

CHROMIUM = os.environ.get("PNC_HUB_TEST_CHROMIUM", "/usr/bin/chromium")
playwright_api = pytest.importorskip("playwright.async_api")
pytestmark = pytest.mark.skipif(not shutil.which(CHROMIUM), reason="chromium is not installed")
# Generous for a loaded 2-core machine; a condition met at once costs nothing.
WAIT_MS = 20_000


@contextlib.asynccontextmanager
async def browser_page(tmp_path: Path) -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=CHROMIUM, headless=True,
                                               args=["--no-sandbox"])
        page = await browser.new_page()
        page.set_default_timeout(WAIT_MS)
        playwright_api.expect.set_options(timeout=WAIT_MS)
        try:
            yield page
        except BaseException:
            shot = tmp_path / "failure.png"
            with contextlib.suppress(Exception):
                await page.screenshot(path=str(shot), full_page=True)
                print(f"screenshot of the failing page: {shot}")
            raise
        finally:
            await browser.close()


async def log_in(page: Any, running: RunningHub, username: str) -> None:
    await page.goto(running.http_url + "/console/")
    # The fields are found by their labels, as a screen reader would.
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url("**/console/op_dashboard")


async def test_operator_flow(console_hub: RunningHub, tmp_path: Path) -> None:
    expect = playwright_api.expect
    async with connect_station(console_hub, "CP-BROWSER") as station, \
            browser_page(tmp_path) as page:
        await station.boot()
        await station.call(call.StatusNotification(connector_id=1, error_code="NoError",
                                                   status="Available", timestamp=now()))
        await log_in(page, console_hub, "olga")
        await page.get_by_role("link", name="Stations", exact=True).click()
        await page.get_by_role("link", name="CP-BROWSER").click()
        await expect(page.locator("#station-online")).to_have_text("Online")
        await expect(page.locator("#connector-1 .status")).to_have_text("Available")

        await page.locator("#send-reset").click()
        await expect(page.get_by_role("status")).to_contain_text(
            "The station answered Reset: Accepted")
        assert [r.payload for r in station.received if r.action == "Reset"] == [
            {"type": "Soft"}]

        # A StatusNotification reaches the open page without a reload.
        await page.evaluate("window.notReloaded = true")
        await page.wait_for_function("() => document.readyState === 'complete'")
        await station.call(call.StatusNotification(connector_id=1, error_code="NoError",
                                                   status="Charging", timestamp=now()))
        await expect(page.locator("#connector-1 .status")).to_have_text("Charging")
        assert await page.evaluate("window.notReloaded") is True

        await page.get_by_label("Language").select_option("de")
        await page.get_by_role("button", name="Switch").click()
        await expect(page.locator("html")).to_have_attribute("lang", "de")
        await expect(page.locator("#send-reset")).to_have_text("Neustart")
        await expect(page.locator("#logout")).to_have_text("Abmelden")

        await page.locator("#logout").click()
        await page.wait_for_url("**/console/")
        await expect(page.get_by_role("button", name="Anmelden")).to_be_visible()
        await page.goto(console_hub.http_url + "/console/op_dashboard")
        await page.wait_for_url("**/console/?next=**")


async def test_viewer_by_keyboard_and_organisation_scope(console_hub: RunningHub,
                                                        tmp_path: Path) -> None:
    expect = playwright_api.expect
    async with console_hub.hub.sessions() as session, session.begin():
        session.add_all([Station(id="ORG-A-7", organisation_key="ORG-A"),
                         Station(id="ORG-B-7", organisation_key="ORG-B")])
    async with browser_page(tmp_path) as page:
        # Keyboard only: the skip link comes first, then the form in order.
        await page.goto(console_hub.http_url + "/console/")
        await page.keyboard.press("Tab")
        await expect(page.locator(":focus")).to_have_text("Skip to content")
        await page.keyboard.press("Enter")  # the skip link moves focus past the header
        await page.keyboard.press("Tab")
        await expect(page.locator(":focus")).to_have_attribute("id", "username")
        await page.keyboard.type("victor")
        await page.keyboard.press("Tab")
        await expect(page.locator(":focus")).to_have_attribute("id", "password")
        await page.keyboard.type(PASSWORD)
        await page.keyboard.press("Enter")
        await page.wait_for_url("**/console/op_dashboard")

        await page.goto(console_hub.http_url + "/console/stations/ORG-B-7")
        await expect(page.locator("#station-id")).to_have_text("ORG-B-7")
        assert await page.locator("#commands").count() == 0  # a viewer has no command buttons
        for path in ("/console/stations", "/console/stations/ORG-B-7", "/console/transactions",
                     "/console/op_change_password"):
            await page.goto(console_hub.http_url + path)
            unlabelled = await page.evaluate("""() => [...document.querySelectorAll(
                'input:not([type=hidden]), select, textarea')].filter(
                e => e.labels.length === 0 && !e.getAttribute('aria-label')).map(e => e.name)""")
            assert unlabelled == [], f"{path}: fields without a label: {unlabelled}"
        await page.locator("#logout").click()
        await page.wait_for_url("**/console/")

        await log_in(page, console_hub, "orgy")
        await page.goto(console_hub.http_url + "/console/stations")
        await expect(page.locator("#stations")).to_contain_text("ORG-A-7")
        await expect(page.locator("#stations")).not_to_contain_text("ORG-B-7")
        response = await page.goto(console_hub.http_url + "/console/stations/ORG-B-7")
        assert response is not None and response.status == 404

"""The MQTT pages in the real browser (Debian's chromium, Playwright) against the real
Mosquitto: an admin finds the pages in the menu, sees a meter's reading, and ignores its topic
with the form, by label."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hub.mqtt import MQTT
from tests.harness import wait_for
from tests.hub.console.test_console_browser import (
    CHROMIUM,
    browser_page,
    log_in,
    playwright_api,
)
from tests.hub.console.test_mqtt_pages import mqtt_console_hub
from tests.hub.mqtt.broker import needs_broker, publisher, random_prefix

pytestmark = pytest.mark.skipif(not shutil.which(CHROMIUM), reason="chromium is not installed")


@needs_broker
async def test_an_admin_sees_a_reading_and_ignores_its_topic(
        hub_factory: Callable[..., Any], tmp_path: Path) -> None:
    expect = playwright_api.expect
    prefix = random_prefix()
    running = await mqtt_console_hub(hub_factory, prefix)
    link = running.app[MQTT]
    readings: list[bytes] = []
    meter = f"{prefix}/energy/grid"  # a watched topic, and a site meter's
    link.subscribe(meter, "site meter GRID", lambda t, data: readings.append(data))
    await wait_for(lambda: link.state.connected, timeout=15)
    async with publisher() as client:
        await client.publish(meter, b"11.0 kW", qos=1)
        await wait_for(lambda: readings == [b"11.0 kW"], timeout=15)
    async with browser_page(tmp_path) as page:
        await log_in(page, running, "alice")
        await page.get_by_role("link", name="MQTT", exact=True).click()
        await expect(page.locator("#mqtt-connected")).to_have_text("yes")
        await page.get_by_role("link", name="MQTT topics", exact=True).click()
        row = page.locator("#mqtt-topics tr", has_text=meter)
        await expect(row).to_contain_text("11.0 kW")
        await expect(row).to_contain_text("site meter GRID")

        await page.get_by_role("link", name="Ignored MQTT topics").click()
        await page.get_by_label("Topic filters, one a line").fill(f"{prefix}/energy/#")
        await page.get_by_role("button", name="Save").click()
        await expect(page.get_by_role("status")).to_contain_text(
            "1 ignored topic filters saved.")
        await expect(page.locator("#ignored-topics")).to_contain_text(f"{prefix}/energy/#")

        async with publisher() as client:
            await client.publish(meter, b"12.0 kW", qos=1)
            await wait_for(lambda: link.state.ignored == 1, timeout=15)
        assert readings == [b"11.0 kW"]  # the meter no longer hears its ignored topic
        await page.get_by_role("link", name="MQTT topics", exact=True).click()
        await expect(row).to_contain_text("12.0 kW")
        await expect(row.locator("td").last).to_have_text("yes")

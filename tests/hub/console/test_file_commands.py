"""Diagnostics and firmware from a station's console page: real `ocpp` 1.6 and 2.0.1 stations
receive the request with the location the hub made, the page shows the charger's answer, the
request is tracked on op_diagnostics, and a viewer is refused."""

from __future__ import annotations

import html

import aiohttp
from ocpp.v16 import call_result
from yarl import URL

from tests.harness import RunningHub, connect_station, connect_station201
from tests.hub.console.conftest import browser, csrf_of, login

IMAGE = b"\x7fELF firmware image for the console test" * 100


async def post_command(http: aiohttp.ClientSession, hub: RunningHub, station_id: str,
                       **fields: str) -> str:
    """Send a command from the station page as the form does; the page it lands on."""
    page = f"{hub.http_url}/console/stations/{station_id}"
    token = await csrf_of(http, page)
    async with http.post(page + "/commands", data={"csrf": token, **fields}) as response:
        assert response.status == 200 and response.url.path == URL(page).path
        return html.unescape(await response.text())


async def upload_image(hub: RunningHub, name: str) -> None:
    async with aiohttp.ClientSession() as api, api.put(
            f"{hub.http_url}/api/firmware/{name}", data=IMAGE, headers=hub.auth) as response:
        assert response.status == 201, await response.text()


async def test_operator_requests_diagnostics_and_firmware_from_a_16_station(
        console_hub: RunningHub) -> None:
    await upload_image(console_hub, "wallbox-3.0.bin")
    async with connect_station(console_hub, "CP-FW16") as station, browser() as http:
        await station.boot()
        assert (await login(http, console_hub, "olga")).status == 303
        async with http.get(f"{console_hub.http_url}/console/stations/CP-FW16") as page:
            assert "<option>wallbox-3.0.bin</option>" in await page.text()

        text = await post_command(http, console_hub, "CP-FW16", command="diagnostics")
        sent = [r.payload for r in station.received if r.action == "GetDiagnostics"]
        assert len(sent) == 1
        assert sent[0]["location"].startswith(console_hub.http_url + "/upload_diagnostics/")
        assert "The station answered GetDiagnostics: it will upload diag.zip" in text
        assert "The Diagnostics page follows request" in text

        station.answers["GetDiagnostics"] = call_result.GetDiagnostics()
        text = await post_command(http, console_hub, "CP-FW16", command="diagnostics",
                                  location="ftp://logs.example.com/cp-fw16/")
        sent = [r.payload for r in station.received if r.action == "GetDiagnostics"]
        assert sent[-1]["location"] == "ftp://logs.example.com/cp-fw16/"
        assert "The station answered GetDiagnostics: nothing to upload" in text

        text = await post_command(http, console_hub, "CP-FW16", command="firmware",
                                  firmware="wallbox-3.0.bin")
        sent = [r.payload for r in station.received if r.action == "UpdateFirmware"]
        assert len(sent) == 1
        location = URL(sent[0]["location"])
        assert str(location).startswith(console_hub.http_url + "/firmware/")
        assert location.path.endswith("/wallbox-3.0.bin")
        assert "The station answered UpdateFirmware: Accepted" in text
        # The location the station got opens the image (the hub made its token).
        async with aiohttp.ClientSession() as charger, charger.get(location) as download:
            assert download.status == 200 and await download.read() == IMAGE

        async with http.get(f"{console_hub.http_url}/console/op_diagnostics") as page:
            listing = await page.text()
        assert listing.count("CP-FW16") >= 3  # two diagnostics requests, one firmware
        assert "<td>no_file</td>" in listing  # the second: answered without a file name


async def test_a_201_station_gets_getlog_and_updatefirmware(console_hub: RunningHub) -> None:
    async with connect_station201(console_hub, "CP-FW201") as station, browser() as http:
        await station.boot()
        assert (await login(http, console_hub, "alice")).status == 303
        text = await post_command(http, console_hub, "CP-FW201", command="diagnostics")
        sent = [r.payload for r in station.received if r.action == "GetLog"]
        assert len(sent) == 1 and sent[0]["log_type"] == "DiagnosticsLog"
        assert sent[0]["log"]["remote_location"].startswith(
            console_hub.http_url + "/upload_diagnostics/")
        assert "The station answered GetLog: Accepted" in text

        text = await post_command(http, console_hub, "CP-FW201", command="firmware",
                                  location="https://vendor.example.com/fw/4.2.bin")
        sent = [r.payload for r in station.received if r.action == "UpdateFirmware"]
        assert len(sent) == 1
        assert sent[0]["firmware"]["location"] == "https://vendor.example.com/fw/4.2.bin"
        assert "The station answered UpdateFirmware: Accepted" in text


async def test_bad_firmware_input_is_named_and_nothing_is_sent(
        console_hub: RunningHub) -> None:
    async with connect_station(console_hub, "CP-FWBAD") as station, browser() as http:
        await station.boot()
        assert (await login(http, console_hub, "olga")).status == 303
        text = await post_command(http, console_hub, "CP-FWBAD", command="firmware")
        assert "firmware: choose an uploaded image or give a location" in text
        text = await post_command(http, console_hub, "CP-FWBAD", command="firmware",
                                  firmware="no-such.bin")
        assert "no firmware file named 'no-such.bin'" in text
        text = await post_command(http, console_hub, "CP-FWBAD", command="diagnostics",
                                  location="javascript:alert(1)")
        assert "location: an absolute" in text
        assert not [r for r in station.received
                    if r.action in ("UpdateFirmware", "GetDiagnostics")]


async def test_a_viewer_has_no_file_commands_and_its_post_is_refused(
        console_hub: RunningHub) -> None:
    async with connect_station(console_hub, "CP-FWVIEW") as station, browser() as http:
        await station.boot()
        assert (await login(http, console_hub, "victor")).status == 303
        page = f"{console_hub.http_url}/console/stations/CP-FWVIEW"
        async with http.get(page) as response:
            text = await response.text()
        assert 'id="send-diagnostics"' not in text and 'id="send-firmware"' not in text
        token = await csrf_of(http, page)
        for fields in ({"command": "diagnostics"},
                       {"command": "firmware", "location": "https://x.example.com/f.bin"}):
            async with http.post(page + "/commands", data={"csrf": token, **fields},
                                 allow_redirects=False) as response:
                assert response.status == 403
        assert not [r for r in station.received
                    if r.action in ("UpdateFirmware", "GetDiagnostics")]

"""Firmware from the operator's upload to Installed: the hub serves the image (range requests
included) to a real station that downloads it from the location it was given, and follows its
FirmwareStatusNotification / SignedFirmwareStatusNotification (1.6) and 2.0.1 notifications."""

from __future__ import annotations

import hashlib
import os
from datetime import timedelta
from typing import Any

import aiohttp
import sqlalchemy as sa
from ocpp.v16 import call, call_result
from ocpp.v201 import call as call201
from yarl import URL

from hub.db.base import utcnow
from hub.files.models import FirmwareRequest
from tests.harness import RunningHub, TestStation, connect_station, connect_station201, wait_for
from tests.hub.files.conftest import STATION, Background, api, files_on_disk, request_state

IMAGE = os.urandom(150_000)
DIGEST = hashlib.sha256(IMAGE).hexdigest()


async def upload_image(hub: RunningHub, http: aiohttp.ClientSession,
                       name: str = "wallbox-2.1.bin") -> dict[str, Any]:
    return await api(hub, http, "PUT", f"/api/firmware/{name}", 201, data=IMAGE)


async def download_in_two_ranges(http: aiohttp.ClientSession, location: str) -> bytes:
    """As a charger resuming a download: the first part, then the rest from an offset."""
    half = len(IMAGE) // 2
    async with http.get(location, headers={"Range": f"bytes=0-{half - 1}"}) as resp:
        assert resp.status == 206, resp.status
        assert resp.headers["Content-Range"] == f"bytes 0-{half - 1}/{len(IMAGE)}"
        first = await resp.read()
    async with http.get(location, headers={"Range": f"bytes={half}-"}) as resp:
        assert resp.status == 206, resp.status
        rest = await resp.read()
    return first + rest


def installing_station(cp: TestStation, http: aiohttp.ClientSession,
                       background: Background) -> list[bytes]:
    downloaded: list[bytes] = []

    async def update(location: str) -> None:
        for status in ("Downloading",):
            await cp.call(call.FirmwareStatusNotification(status=status), suppress=False)
        downloaded.append(await download_in_two_ranges(http, location))
        for status in ("Downloaded", "Installing", "Installed"):
            await cp.call(call.FirmwareStatusNotification(status=status), suppress=False)

    def answer(**kw: Any) -> Any:
        background.start(update(kw["location"]))
        return call_result.UpdateFirmware()

    cp.answers["UpdateFirmware"] = answer
    return downloaded


async def test_update_runs_from_upload_to_installed(
        hub: RunningHub, http: aiohttp.ClientSession, station: TestStation,
        background: Background) -> None:
    stored = await upload_image(hub, http)
    assert (stored["sha256"], stored["size"], stored["kind"]) == (DIGEST, len(IMAGE),
                                                                  "firmware")
    listed = await api(hub, http, "GET", "/api/firmware")
    assert [f["name"] for f in listed["files"]] == ["wallbox-2.1.bin"]

    downloaded = installing_station(station, http, background)
    body = await api(hub, http, "POST", "/api/updateFirmware", json={
        "station_id": STATION, "firmware": "wallbox-2.1.bin", "retries": 3})
    assert body["status"] == "Accepted" and body["action"] == "UpdateFirmware"
    sent = station.received[-1].payload
    assert sent["retries"] == 3
    assert URL(sent["location"]).path.endswith("/wallbox-2.1.bin")
    assert "***" in body["location"] and "***" not in sent["location"]
    await background.wait()
    assert hashlib.sha256(downloaded[0]).hexdigest() == DIGEST

    done = await request_state(hub, http, "firmware", body["request_id"], "installed")
    assert done["station_status"] == "Installed" and done["downloads"] == 2
    assert done["file"]["sha256"] == DIGEST and done["firmware"] == "wallbox-2.1.bin"
    # The answer and the first notification race; the history only ever moves forward.
    order = ["pending", "accepted", "downloading", "downloaded", "installing", "installed"]
    states = [e["state"] for e in done["events"]]
    assert states == sorted(states, key=order.index) and states[-1] == "installed"
    assert {"downloading", "downloaded", "installing"} <= set(states)
    assert [e["station_status"] for e in done["events"] if e["station_status"]] == [
        "Downloading", "Downloaded", "Installing", "Installed"]
    assert done["completed_at"] is not None

    # The seed's query form starts the same cycle.
    downloaded = installing_station(station, http, background)
    async with http.get(f"{hub.http_url}/updateFirmware/{STATION}", headers=hub.auth,
                        params={"firmware": "wallbox-2.1.bin"}) as resp:
        assert resp.status == 200
        assert await resp.text() == f"UpdateFirmware gesendet an {STATION}"
    await background.wait()
    listed = await api(hub, http, "GET", "/api/firmware/requests",
                       params={"station_id": STATION})
    assert [r["state"] for r in listed["requests"]][1] == "installed"
    newest = listed["requests"][0]["id"]
    await request_state(hub, http, "firmware", newest, "installed")


async def test_signed_update_follows_its_request_id_to_a_failure_or_installed(
        hub: RunningHub, http: aiohttp.ClientSession, station: TestStation) -> None:
    await upload_image(hub, http)
    signed = {"station_id": STATION, "firmware": "wallbox-2.1.bin",
              "signing_certificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END "
                                     "CERTIFICATE-----", "signature": "c2lnbmF0dXJl",
              "install_date": "2030-01-01T00:00:00Z"}
    body = await api(hub, http, "POST", "/api/updateFirmware", json=signed)
    assert body["action"] == "SignedUpdateFirmware"
    sent = station.received[-1]
    assert sent.action == "SignedUpdateFirmware"
    assert sent.payload["request_id"] == body["request_id"]
    firmware = sent.payload["firmware"]
    assert firmware["signature"] == "c2lnbmF0dXJl"
    assert firmware["install_date_time"] == "2030-01-01T00:00:00.000Z"
    async with aiohttp.ClientSession() as charger:
        async with charger.get(firmware["location"]) as resp:
            assert resp.status == 200 and await resp.read() == IMAGE
    for status in ("Downloaded", "InvalidSignature"):
        await station.call(call.SignedFirmwareStatusNotification(
            status=status, request_id=body["request_id"]), suppress=False)
    done = await request_state(hub, http, "firmware", body["request_id"], "failed")
    assert done["error"] == "station reported InvalidSignature" and done["signed"] is True

    second = await api(hub, http, "POST", "/api/updateFirmware", json=signed)
    # A notification naming another request (or another station's) moves nothing else.
    await station.call(call.SignedFirmwareStatusNotification(status="Installed",
                                                             request_id=999_999))
    await station.call(call.SignedFirmwareStatusNotification(
        status="Installed", request_id=second["request_id"]), suppress=False)
    await request_state(hub, http, "firmware", second["request_id"], "installed")
    again = await api(hub, http, "GET", f"/api/firmware/requests/{body['request_id']}")
    assert again["state"] == "failed"

    # A station that refuses: rejected, with its reason.
    station.answers["SignedUpdateFirmware"] = call_result.SignedUpdateFirmware(
        status="InvalidCertificate")
    third = await api(hub, http, "POST", "/api/updateFirmware", json=signed)
    assert third["status"] == "InvalidCertificate"
    done = await request_state(hub, http, "firmware", third["request_id"], "rejected")
    assert done["error"] == "station answered InvalidCertificate"

    body = await api(hub, http, "POST", "/api/updateFirmware", 400,
                     json={**signed, "signature": None})
    assert body["field"] == "signature"
    body = await api(hub, http, "POST", "/api/updateFirmware", 404,
                     json={"station_id": STATION, "firmware": "no-such.bin"})
    assert body["error"] == "unknown_firmware"


async def test_a_2_0_1_station_gets_its_update_firmware(
        hub: RunningHub, http: aiohttp.ClientSession) -> None:
    await upload_image(hub, http)
    async with connect_station201(hub, "CP-201") as cp:
        await cp.boot()
        body = await api(hub, http, "POST", "/api/updateFirmware",
                         json={"station_id": "CP-201", "firmware": "wallbox-2.1.bin"})
        sent = cp.received[-1]
        assert (sent.action, sent.payload["request_id"]) == ("UpdateFirmware",
                                                             body["request_id"])
        location = sent.payload["firmware"]["location"]
        async with http.get(location, headers={"Range": "bytes=-1000"}) as resp:
            assert resp.status == 206 and await resp.read() == IMAGE[-1000:]
        for status in ("Downloading", "Downloaded", "Installing", "Installed"):
            await cp.call(call201.FirmwareStatusNotification(
                status=status, request_id=body["request_id"]), suppress=False)
        done = await request_state(hub, http, "firmware", body["request_id"], "installed")
        assert done["ocpp_version"] == "2.0.1" and done["downloads"] == 1


async def test_who_may_download_firmware(
        hub_factory: Any, http: aiohttp.ClientSession) -> None:
    running: RunningHub = await hub_factory()
    await upload_image(running, http)
    await upload_image(running, http, "other.bin")
    url = f"{running.http_url}/firmware/wallbox-2.1.bin"
    async with http.get(url) as resp:
        assert resp.status == 401  # not public by default
    async with http.get(url, headers=running.auth) as resp:
        assert resp.status == 200 and await resp.read() == IMAGE
    async with http.head(url, headers=running.auth) as resp:
        assert resp.status == 200 and int(resp.headers["Content-Length"]) == len(IMAGE)
    async with http.get(url, headers={"Authorization": "Bearer pnch_wrong"}) as resp:
        assert resp.status == 401

    async with connect_station(running, STATION) as cp:
        await wait_for(lambda: STATION in running.hub.stations)
        body = await api(running, http, "POST", "/api/updateFirmware",
                         json={"station_id": STATION, "firmware": "wallbox-2.1.bin"})
        location = URL(cp.received[-1].payload["location"])
        token = location.parts[-2]
        async with http.get(f"{url}?token={token}") as resp:
            assert resp.status == 200  # the seed's path with the token as query
        # The token opens its own file only.
        for other in (f"{running.http_url}/firmware/{token}/other.bin",
                      f"{running.http_url}/firmware/other.bin?token={token}"):
            async with http.get(other) as resp:
                assert resp.status == 403
                assert (await resp.json())["error"] == "invalid_download_token"
        # Once the request timed out, its token is dead (its deadline moved into the past
        # rather than a short timeout: a busy machine must not time it out too early).
        async with running.hub.sessions() as session, session.begin():
            await session.execute(sa.update(FirmwareRequest).where(
                FirmwareRequest.id == body["request_id"]).values(
                deadline=utcnow() - timedelta(seconds=1)))
        timed_out = await request_state(running, http, "firmware", body["request_id"],
                                        "timed_out")
        assert timed_out["error"] == "not installed before the deadline"
        assert [e["state"] for e in timed_out["events"]][-1] == "timed_out"
        async with http.get(str(location)) as resp:
            assert resp.status == 403
            assert (await resp.json())["error"] == "download_token_expired"

    # A second hub on the same database with its own (empty) data directory, serving publicly.
    public: RunningHub = await hub_factory(firmware_public=True)
    await upload_image(public, http, "public.bin")
    async with http.get(f"{public.http_url}/firmware/public.bin",
                        headers={"Range": "bytes=10-19"}) as resp:
        assert resp.status == 206 and await resp.read() == IMAGE[10:20]
    for missing in ("missing.bin", "wallbox-2.1.bin"):  # no row; a row but no file here
        async with http.get(f"{public.http_url}/firmware/{missing}") as resp:
            assert resp.status == 404, missing


async def test_firmware_store_rules(hub_factory: Any, http: aiohttp.ClientSession) -> None:
    running: RunningHub = await hub_factory(max_firmware_bytes=100_000)
    base = running.http_url
    # Traversal and empty names are refused; odd characters are replaced.
    for raw in ("..%2Fescape.bin", "..", "%2E%2E", "a%5Cb.bin"):
        async with http.put(URL(f"{base}/api/firmware/{raw}", encoded=True), data=b"x",
                            headers=running.auth) as resp:
            assert 400 <= resp.status < 500, (raw, resp.status)
    stored = await api(running, http, "PUT", "/api/firmware/fw%20v1.bin", 201, data=b"one")
    assert stored["name"] == "fw_v1.bin" and stored["original_name"] == "fw v1.bin"
    # No overwrite, too large, and multipart.
    body = await api(running, http, "PUT", "/api/firmware/fw_v1.bin", 409, data=b"two")
    assert body["error"] == "file_exists"
    body = await api(running, http, "PUT", "/api/firmware/big.bin", 413, data=b"x" * 100_001)
    assert body["error"] == "upload_too_large"
    form = aiohttp.FormData()
    form.add_field("file", b"three", filename="multi.bin")
    stored = await api(running, http, "POST", "/api/firmware", 201, data=form)
    assert stored["sha256"] == hashlib.sha256(b"three").hexdigest()
    assert sorted(p.name for p in files_on_disk(running)) == ["fw_v1.bin", "multi.bin"]
    body = await api(running, http, "POST", "/api/firmware", 415, data=b"three",
                     headers={"Content-Type": "application/octet-stream"})
    assert body["error"] == "unsupported_media_type" and "field file" in body["detail"]

    # An image an open update uses cannot be deleted; afterwards it can.
    async with connect_station(running, STATION) as cp:
        await wait_for(lambda: STATION in running.hub.stations)
        body = await api(running, http, "POST", "/api/updateFirmware",
                         json={"station_id": STATION, "firmware": "multi.bin"})
        err = await api(running, http, "DELETE", "/api/firmware/multi.bin", 409)
        assert err["request_ids"] == [body["request_id"]]
        await cp.call(call.FirmwareStatusNotification(status="Installed"), suppress=False)
        await request_state(running, http, "firmware", body["request_id"], "installed")
    await api(running, http, "DELETE", "/api/firmware/multi.bin")
    await api(running, http, "DELETE", "/api/firmware/multi.bin", 404)
    assert [p.name for p in files_on_disk(running)] == ["fw_v1.bin"]

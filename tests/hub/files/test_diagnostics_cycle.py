"""GetDiagnostics / GetLog from the management API to the file's arrival, with a real `ocpp` 1.6
station that uploads to the location it is given over HTTP PUT, multipart POST and FTP."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import Any

import aioftp
import aiohttp
import pytest
from ocpp.v16 import call, call_result
from yarl import URL

from tests.harness import RunningHub, TestStation
from tests.hub.files.conftest import (
    STATION,
    Background,
    api,
    files_on_disk,
    request_state,
)


async def put(http: aiohttp.ClientSession, url: str, data: bytes) -> int:
    async with http.put(url, data=data) as resp:
        return resp.status


async def post_form(http: aiohttp.ClientSession, url: str, data: bytes,
                    filename: str = "diag.zip", field: str = "diag") -> int:
    form = aiohttp.FormData()
    form.add_field(field, data, filename=filename, content_type="application/zip")
    async with http.post(url, data=form) as resp:
        return resp.status


async def ftp_upload(location: str, data: bytes, path: str = "diag.zip") -> None:
    url = URL(location)
    async with aioftp.Client.context(url.host, url.port, url.user, url.password) as client:
        async with client.upload_stream(path) as stream:
            await stream.write(data)


def uploading_station(cp: TestStation, background: Background,
                      send: Callable[[str], Any], file_name: str = "diag.zip") -> None:
    """GetDiagnostics answers at once and uploads in the background, as a charger does:
    Uploading, the upload, then Uploaded (or UploadFailed)."""

    async def upload(location: str) -> None:
        await cp.call(call.DiagnosticsStatusNotification(status="Uploading"), suppress=False)
        try:
            await send(location)
        except Exception:
            await cp.call(call.DiagnosticsStatusNotification(status="UploadFailed"))
            raise
        await cp.call(call.DiagnosticsStatusNotification(status="Uploaded"), suppress=False)

    def answer(**kw: Any) -> Any:
        background.start(upload(kw["location"]))
        return call_result.GetDiagnostics(file_name=file_name)

    cp.answers["GetDiagnostics"] = answer


@pytest.mark.parametrize("how", ["put", "multipart", "ftp"])
async def test_station_uploads_and_the_request_completes_with_its_sha256(
        hub: RunningHub, http: aiohttp.ClientSession, station: TestStation,
        background: Background, how: str) -> None:
    data = os.urandom(40_000)
    statuses: list[int] = []

    async def send(location: str) -> None:
        if how == "put":
            statuses.append(await put(http, location + "/diag.zip", data))
        elif how == "multipart":
            statuses.append(await post_form(http, location, data))
        else:
            await ftp_upload(location, data)

    uploading_station(station, background, send)
    body = await api(hub, http, "POST", "/api/getDiagnostics", json={
        "station_id": STATION, "transport": "ftp" if how == "ftp" else "http",
        "start_time": "2024-01-01T00:00:00Z"})
    assert body["status"] == "queued" and body["fileName"] == "diag.zip"
    assert body["action"] == "GetDiagnostics"
    sent = station.received[-1].payload
    assert sent["start_time"] == "2024-01-01T00:00:00.000Z"
    # The location carries a credential; the answer and the database show it redacted.
    assert "***" in body["location"] and "***" not in sent["location"]
    scheme = "ftp" if how == "ftp" else "http"
    assert (URL(sent["location"]).scheme, URL(sent["location"]).host) == (scheme, "127.0.0.1")
    await background.wait()
    assert all(s == 200 for s in statuses), statuses

    done = await request_state(hub, http, "diagnostics", body["request_id"], "complete")
    digest = hashlib.sha256(data).hexdigest()
    assert done["file"]["sha256"] == digest and done["file"]["size"] == len(data)
    assert done["file"]["source"] == {"put": "http-put", "multipart": "http-multipart",
                                      "ftp": "ftp"}[how]
    assert done["transport"] == scheme and done["station_status"] == "Uploaded"
    states = [e["state"] for e in done["events"]]
    assert states[0] == "pending" and "complete" in states
    assert [e["station_status"] for e in done["events"] if e["station_status"]] == [
        "Uploading", "Uploaded"]

    # The operator lists and downloads it; the bytes are the station's.
    listed = await api(hub, http, "GET", "/diagnostics", params={"station_id": STATION})
    assert [f["name"] for f in listed["files"]] == [done["file"]["name"]]
    async with http.get(hub.http_url + done["file"]["url"], headers=hub.auth) as resp:
        assert resp.status == 200 and await resp.read() == data
        assert resp.headers["X-Content-SHA256"] == digest
    async with http.get(hub.http_url + done["file"]["url"]) as resp:
        assert resp.status == 401  # admin only
    # Stored under the station's own directory and the request's, nothing else left behind.
    [stored] = files_on_disk(hub)
    assert stored.parent.name == str(body["request_id"])
    assert stored.parent.parent.name.startswith(STATION)
    assert stored.read_bytes() == data


async def test_put_to_the_location_itself_and_name_appended_without_slash(
        hub: RunningHub, http: aiohttp.ClientSession, station: TestStation,
        background: Background) -> None:
    async def to_location(location: str) -> None:
        assert await put(http, location, b"first") == 200

    uploading_station(station, background, to_location, file_name="announced.tar.gz")
    body = await api(hub, http, "POST", "/api/getDiagnostics", json={"station_id": STATION})
    await background.wait()
    done = await request_state(hub, http, "diagnostics", body["request_id"], "complete")
    # No name in the URL: the name the station announced in its answer.
    assert done["file"]["name"] == f"{body['request_id']}-announced.tar.gz"

    async def glued(location: str) -> None:
        assert await put(http, location + "glued.log", b"second") == 200

    uploading_station(station, background, glued)
    body = await api(hub, http, "GET", f"/getDiagnosticsHTTP/{STATION}",
                     headers={"Accept": "application/json"})
    assert body["transport"] == "http"
    await background.wait()
    done = await request_state(hub, http, "diagnostics", body["request_id"], "complete")
    assert done["file"]["name"] == f"{body['request_id']}-glued.log"


async def test_seed_routes_with_the_token_as_query(
        hub: RunningHub, http: aiohttp.ClientSession, station: TestStation,
        background: Background) -> None:
    """PUT /upload_diagnostics/{file}?token= and POST /upload_diagnostics?token= (the seed's
    own routes), and the minimal form."""
    tokens: list[str] = []

    async def keep(location: str) -> None:
        tokens.append(location.rsplit("/", 1)[1])

    uploading_station(station, background, keep)
    first = await api(hub, http, "POST", "/api/getDiagnostics", json={"station_id": STATION})
    second = await api(hub, http, "POST", "/api/getDiagnostics", json={"station_id": STATION})
    await background.wait()
    assert await put(http, f"{hub.http_url}/upload_diagnostics/a.log?token={tokens[0]}",
                     b"a") == 200
    assert await post_form(http, f"{hub.http_url}/upload_diagnostics?token={tokens[1]}",
                           b"b", filename="b.log") == 200
    for request, name in ((first, "a.log"), (second, "b.log")):
        done = await request_state(hub, http, "diagnostics", request["request_id"], "complete")
        assert done["file"]["name"] == f"{request['request_id']}-{name}"

    async with http.get(f"{hub.http_url}/upload_diagnostics", params={"token": "x'><b>"}) as r:
        page = await r.text()
        assert r.status == 200 and "name='diag'" in page and "x&#x27;&gt;&lt;b&gt;" in page


async def test_get_log_on_a_1_6_station_tracks_log_status_by_request_id(
        hub: RunningHub, http: aiohttp.ClientSession, station: TestStation,
        background: Background) -> None:
    async def upload(location: str, request_id: int) -> None:
        await station.call(call.LogStatusNotification(status="Uploading", request_id=request_id))
        assert await put(http, location + "/security.log", b"log lines\n") == 200
        await station.call(call.LogStatusNotification(status="Uploaded", request_id=request_id))

    def answer(**kw: Any) -> Any:
        background.start(upload(kw["log"]["remote_location"], kw["request_id"]))
        return call_result.GetLog(status="Accepted", filename="security.log")

    station.answers["GetLog"] = answer
    body = await api(hub, http, "POST", "/api/getLog", json={
        "station_id": STATION, "log_type": "SecurityLog",
        "oldest_timestamp": "2024-01-01T00:00:00Z"})
    assert (body["status"], body["filename"], body["action"]) == (
        "Accepted", "security.log", "GetLog")
    sent = station.received[-1].payload
    assert sent["log_type"] == "SecurityLog" and sent["request_id"] == body["request_id"]
    assert sent["log"]["oldest_timestamp"] == "2024-01-01T00:00:00.000Z"
    await background.wait()
    done = await request_state(hub, http, "diagnostics", body["request_id"], "complete")
    assert done["log_type"] == "SecurityLog" and done["station_status"] == "Uploaded"
    assert done["file"]["sha256"] == hashlib.sha256(b"log lines\n").hexdigest()


async def test_station_failures_and_answers_end_the_request(
        hub: RunningHub, http: aiohttp.ClientSession, station: TestStation) -> None:
    # No file name: nothing to upload.
    station.answers["GetDiagnostics"] = call_result.GetDiagnostics()
    body = await api(hub, http, "POST", "/api/getDiagnostics", json={"station_id": STATION})
    assert body["status"] == "no_diagnostics_available"
    done = await request_state(hub, http, "diagnostics", body["request_id"], "no_file")
    assert done["completed_at"] is not None

    # The station gives up: UploadFailed fails the request.
    station.answers["GetDiagnostics"] = call_result.GetDiagnostics(file_name="d.zip")
    body = await api(hub, http, "POST", "/api/getDiagnostics", json={"station_id": STATION})
    await station.call(call.DiagnosticsStatusNotification(status="Uploading"))
    await station.call(call.DiagnosticsStatusNotification(status="UploadFailed"))
    done = await request_state(hub, http, "diagnostics", body["request_id"], "failed")
    assert done["error"] == "station reported UploadFailed"

    # GetLog refused.
    station.answers["GetLog"] = call_result.GetLog(status="Rejected")
    body = await api(hub, http, "POST", "/api/getLog", json={"station_id": STATION})
    assert body["status"] == "Rejected"
    await request_state(hub, http, "diagnostics", body["request_id"], "rejected")

    # An external location: the hub only follows the station's word.
    station.answers["GetDiagnostics"] = call_result.GetDiagnostics(file_name="d.zip")
    body = await api(hub, http, "POST", "/api/getDiagnostics", json={
        "station_id": STATION, "location": "ftp://elsewhere.example/up/"})
    assert body["transport"] == "external" and body["location"] == "ftp://elsewhere.example/up/"
    await station.call(call.DiagnosticsStatusNotification(status="Uploaded"))
    done = await request_state(hub, http, "diagnostics", body["request_id"], "complete")
    assert done["file"] is None
    # Idle (a TriggerMessage answer) after the end says nothing about the request.
    await station.call(call.DiagnosticsStatusNotification(status="Idle"), suppress=False)
    again = await api(hub, http, "GET", f"/api/diagnostics/requests/{body['request_id']}")
    assert (again["state"], again["station_status"]) == ("complete", "Uploaded")

    listed = await api(hub, http, "GET", "/api/diagnostics/requests",
                       params={"station_id": STATION, "state": "failed"})
    assert [r["state"] for r in listed["requests"]] == ["failed"]
    await api(hub, http, "GET", "/api/diagnostics/requests", 400, params={"state": "nope"})
    await api(hub, http, "GET", "/api/firmware/requests", 400, params={"station_id": "C\x00"})
    await api(hub, http, "GET", "/api/diagnostics/requests/999999", 404)


async def test_a_request_without_its_file_times_out(
        hub_factory: Any, http: aiohttp.ClientSession) -> None:
    from tests.harness import connect_station, wait_for

    running: RunningHub = await hub_factory(diagnostics_timeout=0.3)
    async with connect_station(running, STATION) as cp:
        await wait_for(lambda: STATION in running.hub.stations)
        body = await api(running, http, "POST", "/api/getDiagnostics",
                         json={"station_id": STATION})
        token_location = cp.received[-1].payload["location"]
        done = await request_state(running, http, "diagnostics", body["request_id"],
                                   "timed_out")
        assert done["error"] == "no file before the deadline"
        assert [e["state"] for e in done["events"]][-1] == "timed_out"
        # Its token died with it.
        async with http.put(token_location + "/late.zip", data=b"late") as resp:
            assert resp.status == 403 and (await resp.json())["error"] == "upload_token_expired"
    assert files_on_disk(running) == []


async def test_ftp_off_is_409(hub_factory: Any, http: aiohttp.ClientSession) -> None:
    from tests.harness import connect_station, wait_for

    running: RunningHub = await hub_factory(ftp_enabled=False)
    async with connect_station(running, STATION):
        await wait_for(lambda: STATION in running.hub.stations)
        body = await api(running, http, "POST", "/api/getDiagnostics", 409,
                         json={"station_id": STATION, "transport": "ftp"})
        assert body["error"] == "ftp_disabled"


async def test_ftp_passive_ports_are_the_configured_ones(
        hub_factory: Any, http: aiohttp.ClientSession) -> None:
    import asyncio

    from tests.harness import connect_station, wait_for
    from tests.harness.process import free_port

    data_port = free_port()
    running: RunningHub = await hub_factory(ftp_passive_ports=str(data_port))
    async with connect_station(running, STATION) as cp:
        await wait_for(lambda: STATION in running.hub.stations)
        body = await api(running, http, "POST", "/api/getDiagnostics",
                         json={"station_id": STATION, "transport": "ftp"})
        url = URL(cp.received[-1].payload["location"])
        assert url.user == f"diag{body['request_id']}"

        # A plain FTP dialogue: the PASV answer names the configured data port.
        reader, writer = await asyncio.open_connection(url.host, url.port)

        async def say(line: str | None) -> str:
            if line is not None:
                writer.write(line.encode() + b"\r\n")
            return (await reader.readline()).decode()

        assert (await say(None)).startswith("220")
        assert (await say(f"USER {url.user}")).startswith("331")
        assert (await say(f"PASS {url.password}")).startswith("230")
        assert (await say("LIST")).startswith("502")  # nothing to browse
        assert (await say("RETR /etc/passwd")).startswith("502")  # nor to read
        pasv = await say("PASV")
        numbers = pasv[pasv.index("(") + 1:pasv.index(")")].split(",")
        assert int(numbers[4]) * 256 + int(numbers[5]) == data_port
        assert (await say("QUIT")).startswith("221")
        assert await reader.read() == b""
        writer.close()

        await ftp_upload(str(url), b"through the configured port")
        done = await request_state(running, http, "diagnostics", body["request_id"],
                                   "complete")
        assert done["file"]["size"] == len(b"through the configured port")

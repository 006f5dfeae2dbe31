"""What the upload endpoints refuse: path traversal, oversize, over quota, replayed, foreign,
forged and missing tokens, over HTTP and FTP. Each time nothing is written (no file on disk, no
row) and, where the token itself was fine, it still works afterwards."""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
from collections.abc import AsyncIterator
from typing import Any

import aioftp
import aiohttp
import pytest
from yarl import URL

from hub.files.service import FILES
from tests.harness import RunningHub, TestStation, connect_station, wait_for
from tests.hub.files.conftest import (
    STATION,
    api,
    files_on_disk,
    request_state,
    stored_count,
)
from tests.hub.files.test_diagnostics_cycle import ftp_upload, post_form, put


async def new_location(hub: RunningHub, http: aiohttp.ClientSession, station: TestStation,
                       transport: str = "http") -> tuple[int, str]:
    body = await api(hub, http, "POST", "/api/getDiagnostics",
                     json={"station_id": station.id, "transport": transport})
    return body["request_id"], station.received[-1].payload["location"]


async def refused(http: aiohttp.ClientSession, method: str, url: str | URL, *,
                  status: int | None = None, error: str | None = None, **kw: Any) -> None:
    async with http.request(method, url, **kw) as resp:
        body = await resp.json() if resp.content_type == "application/json" else None
        assert 400 <= resp.status < 500 or resp.status == 507, (resp.status, body)
        if status is not None:
            assert resp.status == status, (resp.status, body)
        if error is not None:
            assert body and body["error"] == error, body


async def nothing_written(hub: RunningHub) -> None:
    assert files_on_disk(hub) == []
    assert await stored_count(hub) == 0
    assert hub.app[FILES].store.reserved_bytes == 0 and not hub.app[FILES].uploading


async def test_path_traversal_is_refused_and_nothing_is_written(
        hub: RunningHub, http: aiohttp.ClientSession, station: TestStation) -> None:
    request_id, location = await new_location(hub, http, station)
    token = location.rsplit("/", 1)[1]
    base = hub.http_url + "/upload_diagnostics"
    raw = [
        f"{location}/..%2F..%2Fescape.txt",
        f"{location}/..%5C..%5Cescape.txt",
        f"{location}/..",
        f"{base}/..%2Fescape.txt?token={token}",
        f"{base}/%2E%2E?token={token}",
        f"{base}/..?token={token}",
        f"{location}/a%00b.txt",
    ]
    for url in raw:
        await refused(http, "PUT", URL(url, encoded=True), data=b"evil")
    for name in ("../../etc/passwd", "..\\..\\boot.ini", "..", "/etc/passwd"):
        form = aiohttp.FormData()
        form.add_field("diag", b"evil", filename=name)
        await refused(http, "POST", location, data=form, status=400, error="invalid_file_name")
    # A raw Content-Disposition, as a browser or a hand-written client sends it.
    raw_body = (b'--b\r\nContent-Disposition: form-data; name="diag"; '
                b'filename="../../escape.txt"\r\n\r\nevil\r\n--b--\r\n')
    await refused(http, "POST", location, data=raw_body, status=400, error="invalid_file_name",
                  headers={"Content-Type": "multipart/form-data; boundary=b"})
    # Not multipart at all, a nested multipart part, no file part.
    await refused(http, "POST", location, data=b"evil", status=415,
                  error="unsupported_media_type", headers={"Content-Type": "text/plain"})
    nested = (b'--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n'
              b'--c\r\nContent-Disposition: form-data; name="diag"; filename="x.txt"\r\n\r\n'
              b'evil\r\n--c--\r\n--b--\r\n')
    await refused(http, "POST", location, data=nested, status=400, error="invalid_request",
                  headers={"Content-Type": "multipart/form-data; boundary=b"})
    form = aiohttp.FormData()
    form.add_field("other", b"evil", filename="x.txt")
    await refused(http, "POST", location, data=form, status=400, error="invalid_request")
    await nothing_written(hub)

    # FTP: the same names are refused on STOR.
    _, ftp_location = await new_location(hub, http, station, "ftp")
    url = URL(ftp_location)
    async with aioftp.Client.context(url.host, url.port, url.user, url.password) as client:
        for name in ("../escape.txt", "/up/../../escape.txt", "..\\escape.txt"):
            with pytest.raises(aioftp.StatusCodeError) as failed:
                async with client.upload_stream(name) as stream:
                    await stream.write(b"evil")
            assert failed.value.received_codes[-1].matches("553")
    await nothing_written(hub)

    # The refusals did not burn the token: a proper upload still goes through.
    assert await put(http, location + "/ok.txt", b"fine") == 200
    done = await request_state(hub, http, "diagnostics", request_id, "complete")
    assert done["file"]["name"] == f"{request_id}-ok.txt"
    assert [p.name for p in files_on_disk(hub)] == ["ok.txt"]


async def _stream(total: int) -> AsyncIterator[bytes]:
    for _ in range(total // 8192):
        yield b"x" * 8192


async def test_oversize_uploads_are_refused_and_nothing_is_written(
        hub: RunningHub, http: aiohttp.ClientSession, station: TestStation) -> None:
    limit = hub.hub.config.files.max_upload_bytes
    request_id, location = await new_location(hub, http, station)
    too_big = b"x" * (limit + 1)
    # Announced (Content-Length), streamed (chunked, no length), multipart, Expect: 100.
    await refused(http, "PUT", location + "/big.bin", data=too_big, status=413,
                  error="upload_too_large")
    await refused(http, "PUT", location + "/big.bin", data=_stream(limit + 16384), status=413,
                  error="upload_too_large")
    form = aiohttp.FormData()
    form.add_field("diag", too_big, filename="big.bin")
    await refused(http, "POST", location, data=form, status=413, error="upload_too_large")
    await refused(http, "PUT", location + "/big.bin", data=too_big, expect100=True,
                  status=413, error="upload_too_large")
    await nothing_written(hub)

    _, ftp_location = await new_location(hub, http, station, "ftp")
    with pytest.raises(aioftp.StatusCodeError) as failed:
        await ftp_upload(ftp_location, too_big)
    assert failed.value.received_codes[-1].matches("552")
    await nothing_written(hub)

    # Exactly at the limit is fine, with the same token as before (and 100-continue).
    async with http.put(location + "/edge.bin", data=b"y" * limit, expect100=True) as resp:
        assert resp.status == 200
    done = await request_state(hub, http, "diagnostics", request_id, "complete")
    assert done["file"]["size"] == limit


async def test_quota_counts_stored_files_and_refuses_beyond_it(
        hub_factory: Any, http: aiohttp.ClientSession) -> None:
    running: RunningHub = await hub_factory(quota_bytes=50_000)
    async with connect_station(running, STATION) as cp:
        await wait_for(lambda: STATION in running.hub.stations)
        _, first = await new_location(running, http, cp)
        second_id, second = await new_location(running, http, cp)
        assert await put(http, first + "/a.bin", os.urandom(40_000)) == 200
        await refused(http, "PUT", second + "/b.bin", data=os.urandom(20_000), status=507,
                      error="storage_quota_exceeded")
        await refused(http, "PUT", second + "/b.bin", data=_stream(24_576), status=507,
                      error="storage_quota_exceeded")
        assert [p.name for p in files_on_disk(running)] == ["a.bin"]
        assert await stored_count(running) == 1
        # Deleting a file frees its share of the quota.
        listed = await api(running, http, "GET", "/diagnostics")
        await api(running, http, "DELETE", listed["files"][0]["url"])
        assert files_on_disk(running) == []
        assert await put(http, second + "/b.bin", os.urandom(20_000)) == 200
        await request_state(running, http, "diagnostics", second_id, "complete")


async def test_replayed_forged_foreign_and_missing_tokens_are_refused(
        hub: RunningHub, http: aiohttp.ClientSession, station: TestStation) -> None:
    base = hub.http_url + "/upload_diagnostics"
    first_id, first = await new_location(hub, http, station)
    assert await put(http, first + "/diag.zip", b"original") == 200
    await request_state(hub, http, "diagnostics", first_id, "complete")
    before = files_on_disk(hub)
    digest = hashlib.sha256(before[0].read_bytes()).hexdigest()

    # Replayed: the token was used; neither a new file nor an overwrite of the stored one.
    for attempt in (first + "/diag.zip", first + "/other.zip"):
        await refused(http, "PUT", attempt, data=b"replay", status=403,
                      error="upload_token_used")
    await refused(http, "POST", first, data=_form(b"replay"), status=403,
                  error="upload_token_used")
    # Missing and forged.
    await refused(http, "PUT", f"{base}/diag.zip", data=b"x", status=401,
                  error="upload_token_required")
    await refused(http, "POST", base, data=_form(b"x"), status=401,
                  error="upload_token_required")
    forged = "up" + secrets.token_urlsafe(24)
    await refused(http, "PUT", f"{base}/{forged}/diag.zip", data=b"x", status=403,
                  error="invalid_upload_token")
    await refused(http, "PUT", f"{base}/diag.zip?token=nonsense", data=b"x", status=403,
                  error="invalid_upload_token")

    # Foreign: a firmware download token is not an upload token.
    await api(hub, http, "PUT", "/api/firmware/fw.bin", 201, data=b"firmware image")
    await api(hub, http, "POST", "/api/updateFirmware",
              json={"station_id": STATION, "firmware": "fw.bin"})
    fw_token = URL(station.received[-1].payload["location"]).parts[-2]
    await refused(http, "PUT", f"{base}/{fw_token}/diag.zip", data=b"x", status=403,
                  error="invalid_upload_token")
    # ... nor the reverse.
    second_id, second = await new_location(hub, http, station)
    up_token = second.rsplit("/", 1)[1]
    await refused(http, "GET", f"{hub.http_url}/firmware/{up_token}/fw.bin", status=403,
                  error="invalid_download_token")
    assert [p.name for p in files_on_disk(hub)] == ["diag.zip", "fw.bin"]
    assert hashlib.sha256(before[0].read_bytes()).hexdigest() == digest

    # FTP: the used token no longer logs in; another request's valid token does not log in
    # as this request's user.
    used = URL(first.replace(hub.http_url + "/upload_diagnostics/", "ftp://x/"))
    _, ftp_location = await new_location(hub, http, station, "ftp")
    url = URL(ftp_location)
    for user, password in ((f"diag{first_id}", used.parts[-1]),
                           (f"diag{second_id}", url.password),
                           (url.user, "up" + secrets.token_urlsafe(24))):
        with pytest.raises(aioftp.StatusCodeError) as failed:
            async with aioftp.Client.context(url.host, url.port, user, password):
                pass
        assert failed.value.received_codes[-1].matches("530")
    assert await stored_count(hub) == 2


def _form(data: bytes) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("diag", data, filename="diag.zip")
    return form


async def test_one_upload_per_token_at_a_time(
        hub: RunningHub, http: aiohttp.ClientSession, station: TestStation) -> None:
    request_id, location = await new_location(hub, http, station)
    release = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield b"first half "
        await release.wait()
        yield b"second half"

    first = asyncio.ensure_future(put(http, location + "/slow.txt", slow()))  # type: ignore[arg-type]
    await wait_for(lambda: request_id in hub.app[FILES].uploading)
    await refused(http, "PUT", location + "/fast.txt", data=b"x", status=409,
                  error="upload_in_progress")
    release.set()
    assert await first == 200
    done = await request_state(hub, http, "diagnostics", request_id, "complete")
    assert done["file"]["size"] == len(b"first half second half")


async def test_two_stations_with_the_same_file_name_keep_their_own_files(
        hub: RunningHub, http: aiohttp.ClientSession, station: TestStation) -> None:
    async with connect_station(hub, "CP-OTHER") as other:
        await wait_for(lambda: "CP-OTHER" in hub.hub.stations)
        _, mine = await new_location(hub, http, station)
        _, theirs = await new_location(hub, http, other)
        assert await put(http, mine + "/diag.zip", b"mine") == 200
        assert await put(http, theirs + "/diag.zip", b"theirs") == 200
        assert await post_form(http, mine, b"again") == 403
    contents = sorted(p.read_bytes() for p in files_on_disk(hub))
    assert contents == [b"mine", b"theirs"]
    assert len({p.parent.parent for p in files_on_disk(hub)}) == 2

"""Issue 14, finding 7: every answer (HTML pages above all) carries the security headers, and
``Server`` names no versions, WebSocket upgrades included."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
import websockets

from tests.harness import RunningHub

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def assert_safe_headers(headers: dict[str, str] | aiohttp.typedefs.LooseHeaders,
                        where: str) -> None:
    server = headers.get("Server", "")
    assert "/" not in server and "python" not in server.lower() \
        and "aiohttp" not in server.lower(), (where, server)
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    csp = headers.get("Content-Security-Policy", "")
    assert "default-src" in csp, (where, csp)
    assert headers.get("X-Frame-Options") == "DENY" or "frame-ancestors 'none'" in csp, where
    assert headers.get("Referrer-Policy"), where


@SQLITE_ONLY
async def test_html_pages_and_other_answers_send_security_headers(hub: RunningHub) -> None:
    pages = [("/api/docs", hub.auth), ("/upload_diagnostics", {})]
    others = [("/api/openapi.json", hub.auth), ("/healthCheck-01", {}),
              ("/no/such/route", hub.auth), ("/api/openapi.json", {})]
    async with aiohttp.ClientSession() as http:
        for path, headers in pages:
            async with http.get(hub.http_url + path, headers=headers) as resp:
                assert resp.status == 200 and resp.content_type == "text/html", path
                assert_safe_headers(resp.headers, path)
        for path, headers in others:
            async with http.get(hub.http_url + path, headers=headers) as resp:
                assert_safe_headers(resp.headers, f"{path} ({resp.status})")


@SQLITE_ONLY
async def test_requests_aiohttp_refuses_itself_name_no_versions(hub: RunningHub) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", hub.port)
    try:
        writer.write(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: hub\r\n\r\n")
        await writer.drain()
        head = (await asyncio.wait_for(reader.read(4096), 10)).decode("latin-1")
    finally:
        writer.close()
    assert head.startswith("HTTP/1.") and " 400 " in head.splitlines()[0], head
    server = [line for line in head.splitlines() if line.lower().startswith("server:")]
    assert server and "aiohttp" not in server[0].lower() and "python" not in server[0].lower()


@SQLITE_ONLY
async def test_websocket_upgrade_names_no_versions(hub: RunningHub) -> None:
    async with websockets.connect(hub.ws_url("CP-HEADERS"), subprotocols=["ocpp1.6"]) as ws:
        headers = ws.response.headers
        assert ws.response.status_code == 101
        server = headers.get("Server", "")
        assert "/" not in server and "aiohttp" not in server.lower(), server
        assert headers.get("X-Content-Type-Options") == "nosniff"

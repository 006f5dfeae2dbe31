"""/api/docs in a browser: a login form for anonymous visitors, a cookie session that opens the
reference and its document (and nothing else), Swagger UI's files served by the hub itself."""

from __future__ import annotations

import re
import ssl
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import sqlalchemy as sa

from hub.app import TOKENS
from hub.auth import create_token
from hub.db.models import ApiToken
from hub.docs import swagger_ui_dir
from hub.ocpp_server.endpoint import ssl_context as hub_ssl_context
from hub.openapi import DOCS_COOKIE
from tests.harness import RunningHub
from tests.hub.ocpp_server.test_handshake import tls_files  # noqa: F401 - a fixture


def browser() -> aiohttp.ClientSession:
    # unsafe=True: keep cookies for an IP address host (127.0.0.1), as a browser does.
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def login(http: aiohttp.ClientSession, running: RunningHub, token: str
                ) -> aiohttp.ClientResponse:
    async with http.post(running.http_url + "/api/docs/login", data={"token": token},
                         allow_redirects=False) as response:
        await response.read()
        return response


async def get(http: aiohttp.ClientSession, running: RunningHub, path: str,
              **kwargs: Any) -> tuple[int, str, Any]:
    async with http.get(running.http_url + path, allow_redirects=False, **kwargs) as response:
        return response.status, await response.text(), response.headers


async def test_anonymous_visitor_gets_the_login_form_and_no_document(hub: RunningHub) -> None:
    async with browser() as http:
        status, page, headers = await get(http, hub, "/api/docs")
        assert status == 200
        assert "<form method='post' action='/api/docs/login'>" in page
        assert "type='password'" in page
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert (await get(http, hub, "/api/openapi.json"))[0] == 401


async def test_login_opens_a_cookie_session_for_the_docs_only(hub: RunningHub) -> None:
    async with browser() as http:
        response = await login(http, hub, hub.admin_token)
        assert response.status == 303
        assert response.headers["Location"] == "/api/docs"
        cookie = response.cookies[DOCS_COOKIE]
        assert cookie["httponly"] and cookie["samesite"] == "Strict"
        assert cookie["path"] == "/api" and not cookie["secure"]  # plain HTTP here
        assert int(cookie["max-age"]) > 0
        assert hub.admin_token not in cookie.value and len(cookie.value) >= 40

        status, page, headers = await get(http, hub, "/api/docs")
        assert status == 200 and "id='swagger-ui'" in page
        # Every script is a file of the hub: nothing inline, nothing from another host.
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)
        assert re.findall(r"<script src='([^']+)'", page) == [
            "/api/docs/assets/swagger-ui-bundle.js", "/api/docs/assets/docs-init.js"]
        assert not re.search(r"(?:src|href)='https?:", page)
        status, body, _ = await get(http, hub, "/api/openapi.json")
        assert status == 200 and '"openapi": "3.1.0"' in body

        # The cookie authorises nothing else: reads and commands still need the bearer token.
        assert (await get(http, hub, "/api/connected"))[0] == 401
        async with http.post(hub.http_url + "/api/reset", json={"station_id": "CP-1"}) as r:
            assert r.status == 401


async def test_a_wrong_token_gets_the_form_again_and_no_cookie(hub: RunningHub) -> None:
    async with browser() as http:
        response = await login(http, hub, "pnch_not-a-token")
        assert response.status == 401
        assert DOCS_COOKIE not in response.cookies
        async with http.post(hub.http_url + "/api/docs/login", data={}) as response:
            assert response.status == 401
        async with http.post(hub.http_url + "/api/docs/login", json={"token": 1}) as response:
            assert response.status == 401
        assert (await get(http, hub, "/api/openapi.json"))[0] == 401


async def test_a_token_without_a_docs_scope_cannot_log_in(hub: RunningHub) -> None:
    sites_only = await create_token(hub.hub.sessions, "backoffice", ["sites:read"])
    async with browser() as http:
        assert (await login(http, hub, sites_only)).status == 401


async def test_logout_and_revocation_end_the_session(hub: RunningHub) -> None:
    token = await create_token(hub.hub.sessions, "reader")
    async with browser() as http:
        assert (await login(http, hub, token)).status == 303
        assert (await get(http, hub, "/api/openapi.json"))[0] == 200
        async with http.post(hub.http_url + "/api/docs/logout", allow_redirects=False) as r:
            assert r.status == 303
        assert (await get(http, hub, "/api/openapi.json"))[0] == 401

        assert (await login(http, hub, token)).status == 303
        assert (await get(http, hub, "/api/openapi.json"))[0] == 200
        async with hub.hub.sessions() as session, session.begin():
            await session.execute(sa.update(ApiToken).where(ApiToken.name == "reader")
                                  .values(revoked_at=datetime.now(UTC)))
        hub.app[TOKENS]._cache.clear()  # the verifier's short cache, not the session
        assert (await get(http, hub, "/api/openapi.json"))[0] == 401
        status, page, _ = await get(http, hub, "/api/docs")
        assert status == 200 and "/api/docs/login" in page


async def test_the_page_assets_are_the_packaged_swagger_ui(hub: RunningHub) -> None:
    async with browser() as http:
        for name, kind in (("swagger-ui-bundle.js", "text/javascript"),
                           ("swagger-ui.css", "text/css")):
            async with http.get(f"{hub.http_url}/api/docs/assets/{name}") as response:
                assert response.status == 200
                assert response.content_type == kind
                assert await response.read() == (swagger_ui_dir() / name).read_bytes()
        status, script, _ = await get(http, hub, "/api/docs/assets/docs-init.js")
        assert status == 200 and 'url: "/api/openapi.json"' in script
        # Only the listed files: no path out of the folders, no other file of the package.
        for name in ("..%2F..%2Fhub%2Fapp.py", "swagger-editor-bundle.js", "LICENSE"):
            assert (await get(http, hub, f"/api/docs/assets/{name}"))[0] == 404


async def test_the_session_cookie_is_secure_over_tls(hub_factory: Any,
                                                     tls_files: dict[str, Path],  # noqa: F811
                                                     ) -> None:
    server = tls_files["server"]
    running = await hub_factory(ssl_context=hub_ssl_context(
        str(server.with_suffix(".crt")), str(server.with_suffix(".key")), ""))
    client = ssl.create_default_context(cafile=str(tls_files["ca.crt"]))
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                     connector=aiohttp.TCPConnector(ssl=client)) as http:
        response = await login(http, running, running.admin_token)
        assert response.status == 303
        assert response.cookies[DOCS_COOKIE]["secure"]
        assert (await get(http, running, "/api/openapi.json"))[0] == 200

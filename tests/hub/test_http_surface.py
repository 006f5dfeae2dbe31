"""The HTTP surface: health is public, everything else needs a valid bearer token, and the
OpenAPI document lists every registered route."""

from __future__ import annotations

import aiohttp

from tests.harness import RunningHub


async def test_health_is_public_and_everything_else_needs_a_token(hub: RunningHub) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{hub.http_url}/healthCheck-01") as resp:
            assert resp.status == 200
            assert (await resp.json())["status"] == "ok"
        async with http.get(f"{hub.http_url}/api/openapi.json") as resp:
            assert resp.status == 401
            body = await resp.json()
            assert body["error"] == "unauthorized" and "bearer" in body["detail"]
        bad = {"Authorization": "Bearer pnch_not-a-token"}
        async with http.get(f"{hub.http_url}/api/openapi.json", headers=bad) as resp:
            assert resp.status == 401
        async with http.get(f"{hub.http_url}/api/openapi.json", headers=hub.auth) as resp:
            assert resp.status == 200
            document = await resp.json()
        async with http.get(f"{hub.http_url}/no/such/route", headers=hub.auth) as resp:
            assert resp.status == 404
            assert (await resp.json())["error"] == "not_found"

    assert document["openapi"] == "3.1.0"
    paths = document["paths"]
    assert paths["/healthCheck-01"]["get"]["security"] == []
    # The document: the bearer token, the session of the /api/docs login, or the console's.
    assert paths["/api/openapi.json"]["get"]["security"] == [
        {"bearer": []}, {"docsSession": []}, {"consoleSession": []}]
    assert "/ocpp/{station_id}" in paths


async def test_scoped_tokens_only_reach_their_routes(hub: RunningHub) -> None:
    from hub.auth import create_token

    token = await create_token(hub.hub.sessions, "reader", ["sites:read"], "org-1")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{hub.http_url}/api/openapi.json",
                            headers={"Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 403
            assert "admin" in (await resp.json())["required_scopes"]

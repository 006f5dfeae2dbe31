"""Issue 14, finding 5: one JSON body reader with a nesting limit for every HTTP route. Every
route that takes a body, enumerated from the OpenAPI document, answers JSON nested 100,000
deep with a 4xx and a JSON body (never a 500, never a traceback); the OICP webhooks with their
eRoamingAcknowledgement."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest

from hub.json_body import MAX_DEPTH, JsonBodyError, parse_json
from tests.harness import RunningHub
from tests.oicp.conftest import WEBHOOKS, webhook

DEEP = 100_000
DEEP_BODIES = {
    "array": b"[" * DEEP + b"]" * DEEP,
    "object": b'{"a":' * DEEP + b"1" + b"}" * DEEP,
}
PATH_VALUES = {"station_id": "CP-DEEP", "providerID": "DE*8EO"}


def test_the_reader_counts_levels_without_recursion() -> None:
    assert parse_json(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH) is not None
    for too_deep in (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), *DEEP_BODIES.values()):
        with pytest.raises(JsonBodyError, match="nested deeper"):
            parse_json(too_deep)
    with pytest.raises(JsonBodyError, match="not valid JSON"):
        parse_json(b"NaN")


def body_routes(document: dict[str, Any]) -> list[tuple[str, str]]:
    found = []
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            # Routes that read JSON (the docs login reads a form and answers with its page).
            content = op.get("requestBody", {}).get("content", {}) if isinstance(op, dict) \
                else {}
            if "application/json" in content:
                concrete = re.sub(r"\{([^}:]+)(:[^}]*)?\}",
                                  lambda m: PATH_VALUES.get(m.group(1), "1"), path)
                found.append((method.upper(), concrete))
    return found


async def test_every_body_route_answers_deep_json_with_a_4xx(oicp_hub: RunningHub) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(oicp_hub.http_url + "/api/openapi.json",
                            headers=oicp_hub.auth) as resp:
            routes = body_routes(await resp.json())
        # The document lists the feature routes, not only the core's.
        paths = {path for _, path in routes}
        assert {"/tokens", "/api/reset", "/sites"} <= paths, paths
        for feature in ("/api/pnc/", "/api/oicp/"):
            assert any(path.startswith(feature) for path in paths), (feature, paths)
        failures = []
        for method, path in routes:
            for shape, body in DEEP_BODIES.items():
                async with http.request(
                        method, oicp_hub.http_url + path, data=body,
                        headers={**oicp_hub.auth, "Content-Type": "application/json"}) as resp:
                    text = await resp.text()
                    answer = await resp.json() if resp.content_type == "application/json" \
                        else None
                    if path.startswith("/api/oicp/") and resp.status == 200:
                        ok = answer is not None and answer.get("Result") is False
                    else:
                        ok = 400 <= resp.status < 500 and answer is not None
                    if not ok or "Traceback" in text:
                        failures.append((method, path, shape, resp.status, text[:200]))
        assert failures == []


async def test_management_routes_name_the_body(oicp_hub: RunningHub) -> None:
    async with aiohttp.ClientSession() as http:
        for method, path in [("PUT", "/tokens"), ("POST", "/api/reset"), ("POST", "/sites"),
                             ("POST", "/api/pnc/ocpp-command")]:
            async with http.request(method, oicp_hub.http_url + path,
                                    data=DEEP_BODIES["object"],
                                    headers={**oicp_hub.auth,
                                             "Content-Type": "application/json"}) as resp:
                answer = await resp.json()
                assert resp.status == 400, (path, answer)
                assert answer.get("field") == "body" and "nested" in answer["detail"], answer


async def test_oicp_webhooks_acknowledge_deep_json_with_a_status_code(
        oicp_hub: RunningHub) -> None:
    for kind in WEBHOOKS:
        for body in DEEP_BODIES.values():
            status, ack = await webhook(oicp_hub, kind, None, raw=body)
            assert status == 200, ack
            assert ack["Result"] is False and ack["StatusCode"]["Code"] == "022", ack
            assert "nested" in ack["StatusCode"]["AdditionalInfo"], ack

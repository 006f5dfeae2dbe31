"""/api/openapi.json as served by a hub with every feature on (OICP and Plug&Charge configured):
valid OpenAPI 3.1, and every route documented with its request and answer schemas and an
example that its own schema accepts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.harness import RunningHub

# Routes that act without a body of their own (the action is the route).
NO_BODY = {("POST", "/api/pnc/lifecycle/sweep"), ("POST", "/api/pnc/rcp/sync"),
           ("POST", "/api/docs/logout")}
# Answers that are files or streams: described by their media type, no example.
BINARY = {"application/octet-stream", "application/ocsp-response", "application/ocsp-request",
          "multipart/form-data", "image/png"}


@pytest.fixture
async def full_hub(hub_factory: Any, tmp_path: Path) -> RunningHub:
    return await hub_factory(
        dev=True,
        oicp={"operator_id": "DE*ABC", "operator_name": "ACME Charging",
              "base_url": "http://127.0.0.1:9/api/oicp", "hotline_phone_number": "+4930123456",
              "providers": ["DE*8EO"], "poll_interval": 0.05},
        pki={"key_dir": str(tmp_path / "pki-keys"), "cpo_name": "ACME CPO"},
        pnc={"lifecycle_enabled": False})


async def served_document(running: RunningHub) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(
            running.http_url + "/api/openapi.json", headers=running.auth) as response:
        assert response.status == 200
        return await response.json()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), route, op) for route, methods in document["paths"].items()
            for method, op in methods.items()]


async def test_served_document_is_valid_openapi_3_1(full_hub: RunningHub) -> None:
    document = await served_document(full_hub)
    assert document["openapi"].startswith("3.1")
    errors = [str(e)[:300] for e in OpenAPIV31SpecValidator(document).iter_errors()]
    assert errors == []
    # The features' routes are in it: OICP webhooks and Plug&Charge.
    assert any("/authorize-remote/start" in p for p in document["paths"])
    assert "/api/pnc/ocpp-certificates" in document["paths"]


async def test_every_route_has_schemas_and_examples_its_schema_accepts(
        full_hub: RunningHub) -> None:
    document = await served_document(full_hub)
    registry = Registry().with_resource(
        "urn:doc", Resource.from_contents(document, default_specification=DRAFT202012))
    problems: list[str] = []

    def check(where: str, media_type: str, media: dict[str, Any]) -> None:
        if media_type in BINARY:
            return
        if "schema" not in media:
            problems.append(f"{where} {media_type}: no schema")
        elif "example" not in media:
            problems.append(f"{where} {media_type}: no example")
        else:
            validator = jsonschema.Draft202012Validator(_rebase(media["schema"]),
                                                        registry=registry)
            for error in validator.iter_errors(media["example"]):
                problems.append(f"{where} {media_type}: example: {error.message[:200]}")

    for method, route, op in operations(document):
        where = f"{method} {route}"
        if route == "/ocpp/{station_id}":
            continue  # the chargers' WebSocket upgrade, not an HTTP API
        body = op.get("requestBody")
        if method in ("POST", "PUT", "PATCH") and (method, route) not in NO_BODY and not body:
            problems.append(f"{where}: no request body schema")
        for media_type, media in (body or {}).get("content", {}).items():
            check(f"{where} request", media_type, media)
        success = [s for s in op["responses"] if s.startswith("2")]
        redirect = [s for s in op["responses"] if s.startswith("3")]
        if not success and not redirect:
            problems.append(f"{where}: no success answer documented")
        for status in success:
            content = op["responses"][status].get("content")
            if not content and status != "204":
                problems.append(f"{where} {status}: no answer schema")
            for media_type, media in (content or {}).items():
                check(f"{where} {status}", media_type, media)
        for status in op["responses"]:
            for media_type, media in op["responses"][status].get("content", {}).items():
                if not status.startswith("2"):
                    check(f"{where} {status}", media_type, media)
    assert problems == [], "\n".join(problems)


def _rebase(schema: Any) -> Any:
    """Point the document's local $refs at the registry's copy of the document."""
    if isinstance(schema, dict):
        return {k: ("urn:doc" + v if k == "$ref" and v.startswith("#") else _rebase(v))
                for k, v in schema.items()}
    if isinstance(schema, list):
        return [_rebase(item) for item in schema]
    return schema

"""Fixtures for OICP: a running hub with the feature pointed at a mock Hubject, and a
connected charger. Retry and poll settings are short so that failure paths stay fast."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from oicp.mock_hubject import MockHubject
from oicp.spec import load_spec
from tests.harness import RunningHub

OPERATOR = "DE*ABC"
PROVIDER = "DE*8EO"
EVCO = "DE-8EO-CAB12345C-7"
EVSE_1 = "DE*ABC*E1001*1"
EVSE_2 = "DE*ABC*E1001*2"
EVSES = [
    {"evse_id": EVSE_1, "station_id": "CP-1", "connector_id": 1, "timezone": "Europe/Berlin"},
    {"evse_id": EVSE_2, "station_id": "CP-1", "connector_id": 2},
]


def oicp_settings(mock: MockHubject, **extra: Any) -> dict[str, Any]:
    return {
        "operator_id": OPERATOR, "operator_name": "ACME Charging", "base_url": mock.url,
        "poll_interval": 0.05, "retry_initial": 0.01, "retry_max": 0.2, "retry_attempts": 2,
        "request_timeout": 1.0, "authorize_timeout": 1.0, "progress_interval": 0,
        "providers": [PROVIDER], "hotline_phone_number": "+4930123456", "evses": EVSES,
        **extra,
    }


def session_id() -> str:
    return str(uuid.uuid4())


def remote_start_body(sid: str, evse_id: str = EVSE_1, **extra: Any) -> dict[str, Any]:
    return {"SessionID": sid, "ProviderID": PROVIDER, "EvseID": evse_id,
            "Identification": {"RemoteIdentification": {"EvcoID": EVCO}},
            "EMPPartnerSessionID": "emp-42", **extra}


WEBHOOKS = {
    "start": "/api/oicp/charging/v21/providers/{p}/authorize-remote/start",
    "stop": "/api/oicp/charging/v21/providers/{p}/authorize-remote/stop",
    "reserve": "/api/oicp/reservation/v11/providers/{p}/reservation-start-request",
    "unreserve": "/api/oicp/reservation/v11/providers/{p}/reservation-stop-request",
    "reserve21": "/api/oicp/charging/v21/providers/{p}/authorize-remote-reservation/start",
    "unreserve21": "/api/oicp/charging/v21/providers/{p}/authorize-remote-reservation/stop",
}

SAME_AS = {"reserve21": "reserve", "unreserve21": "unreserve"}


async def webhook(running: RunningHub, kind: str, body: Any, provider: str = PROVIDER,
                  raw: bytes | None = None, headers: dict[str, str] | None = None
                  ) -> tuple[int, dict[str, Any]]:
    """POST a webhook like Hubject does; check the answer against the OICP OpenAPI."""
    path = WEBHOOKS[kind].format(p=provider)
    async with aiohttp.ClientSession() as http:
        kwargs: dict[str, Any] = {"data": raw, "headers": {"Content-Type": "application/json",
                                                           **(headers or {})}} \
            if raw is not None else {"json": body, "headers": headers}
        async with http.post(running.http_url + path, **kwargs) as response:
            answer = await response.json()
            status = response.status
    spec = load_spec()
    if spec is not None:
        # The v2.1 form of the reservation paths is not in the 2.3 OpenAPI: same messages.
        spec_path = WEBHOOKS[SAME_AS.get(kind, kind)].format(p=provider)
        assert spec.response_errors(spec_path, answer) == [], answer
    return status, answer


@pytest.fixture
async def mock() -> AsyncIterator[MockHubject]:
    hubject = await MockHubject().start()
    yield hubject
    await hubject.stop()
    assert hubject.invalid == [], hubject.invalid


@pytest.fixture
async def oicp_hub(hub_factory: Callable[..., Any], mock: MockHubject) -> RunningHub:
    return await hub_factory(dev=True, oicp=oicp_settings(mock),
                             ocpp={"call_timeout": 5})


"""Roaming on one machine: the product's Hubject double (``pnc-hub hubject-mock``) with its
control API firing remote start/stop at the hub, and what an operator sees of OICP trouble:
a start-up warning without a client certificate, one warning per interval while Hubject is
unreachable (not one per retry), EVSE data left out of a push visible through the API."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from ocpp.v16 import call

from oicp import OICP, outbox
from oicp.mock_hubject import MockHubject
from oicp.spec import load_spec
from tests.harness import RunningHub, connect_station, now, wait_for
from tests.oicp.conftest import EVCO, EVSE_1, oicp_settings
from tests.oicp.test_evse_data_sync import (
    EVSE_A,
    EVSE_B,
    add_organisation,
    add_station,
    site_body,
)

ROOT = Path(__file__).resolve().parents[2]


async def post(url: str, body: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.post(url, json=body) as response:
        return response.status, await response.json()


async def status(station: Any, connector: int, state: str) -> None:
    await station.call(call.StatusNotification(connector_id=connector, error_code="NoError",
                                               status=state, timestamp=now()))


async def test_mock_control_api_runs_remote_start_and_stop_at_the_hub(
        oicp_hub: RunningHub, mock: MockHubject) -> None:
    mock.hub_url = oicp_hub.http_url
    control = mock.url.removesuffix("/api/oicp") + "/mock"
    async with connect_station(oicp_hub, "CP-1") as station:
        await station.boot()
        await status(station, 1, "Available")
        code, started = await post(control + "/remote-start",
                                   {"evse_id": EVSE_1, "emaid": EVCO})
        assert code == 200 and started["status"] == 200, started
        assert started["answer"]["Result"] is True, started
        assert started["invalid"] == []
        remote = [r for r in station.received if r.action == "RemoteStartTransaction"]
        assert [r.payload["id_tag"] for r in remote] == [EVCO.upper()]
        await station.call(call.StartTransaction(connector_id=1, id_tag=EVCO.upper(),
                                                 meter_start=0, timestamp=now()))

        session_id = started["request"]["SessionID"]
        code, stopped = await post(control + "/remote-stop",
                                   {"session_id": session_id, "evse_id": EVSE_1})
        assert code == 200 and stopped["answer"]["Result"] is True, stopped
        assert any(r.action == "RemoteStopTransaction" for r in station.received)

        # The control API names a missing or malformed field.
        code, problem = await post(control + "/remote-start", {"evse_id": EVSE_1})
        assert code == 400 and problem["field"] == "emaid"
        code, problem = await post(control + "/remote-start",
                                   {"evse_id": EVSE_1, "emaid": "not an emaid"})
        assert code == 400 and problem["field"] == "emaid"
    await wait_for(lambda: mock.accepted("PushEvseStatus"))
    async with aiohttp.ClientSession() as http, http.get(control + "/requests") as response:
        seen = await response.json()
    assert seen["spec"] is (load_spec() is not None)
    assert {"PushEvseStatus"} <= {r["operation"] for r in seen["requests"]}


async def _start_mock(*args: str, env: dict[str, str] | None = None
                      ) -> tuple[asyncio.subprocess.Process, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub", "hubject-mock", "--port", "0", *args, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert process.stdout is not None
    # Generous: a start-up on a loaded machine; the line comes as soon as it listens.
    first = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
    return process, first


async def _stop(process: asyncio.subprocess.Process) -> int:
    process.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(process.wait(), 60)


async def test_hubject_mock_command_checks_requests_against_the_spec() -> None:
    if load_spec() is None:
        pytest.skip("the OICP 2.3 OpenAPI is not beside this checkout (../shared/specs)")
    process, first = await _start_mock()
    try:
        assert "checking every request against the OICP 2.3 OpenAPI" in first, first
        url = first.split("listening on ")[1].split(",")[0]
        operator = url + "/evsepush/v21/operators/DE*ABC/status-records"
        code, ack = await post(operator, {"ActionType": "update", "OperatorEvseStatus": {
            "OperatorID": "DE*ABC", "EvseStatusRecord": [
                {"EvseID": "DE*ABC*E1*1", "EvseStatus": "Available"}]}})
        assert code == 200 and ack["Result"] is True
        await post(operator, {"ActionType": "update", "OperatorEvseStatus": {}})
        async with aiohttp.ClientSession() as http, http.get(
                url.removesuffix("/api/oicp") + "/mock/requests") as response:
            seen = await response.json()
        assert seen["spec"] is True and len(seen["requests"]) == 2
        assert len(seen["invalid"]) >= 1 and "OperatorID" in " ".join(seen["invalid"])
    finally:
        assert await _stop(process) == 0


async def test_hubject_mock_command_runs_without_the_spec(tmp_path: Path) -> None:
    process, first = await _start_mock(env={"PNC_HUB_SPECS": str(tmp_path)})
    try:
        assert "WITHOUT schema validation" in first, first
    finally:
        assert await _stop(process) == 0


async def test_start_up_warns_when_oicp_has_no_client_certificate(
        hub_factory: Any, mock: MockHubject, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="oicp.runtime")
    await hub_factory(oicp=oicp_settings(mock))  # a local double over http: no warning
    assert not [r for r in caplog.records if "client certificate" in r.getMessage()]
    await hub_factory(oicp=oicp_settings(mock, base_url="https://127.0.0.1:9/api/oicp"))
    warnings = [r for r in caplog.records if "client certificate" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_unreachable_hubject_warns_once_per_interval_per_lane(
        hub_factory: Any, mock: MockHubject, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="oicp.worker")
    running = await hub_factory(dev=True, oicp=oicp_settings(
        mock, base_url=f"http://127.0.0.1:{closed_port()}/api/oicp", retry_attempts=1,
        retry_initial=0.001, retry_max=0.01, evses=[]))
    rt = running.app[OICP]
    for lane, key in ((outbox.CDR, "s-1"), (outbox.NOTIFICATION, "s-2")):
        async def work(conn: Any, lane: str = lane, key: str = key) -> int:
            return await outbox.enqueue(conn, lane, key, {"SessionID": key})

        await running.hub.committer.run(work)
    rt.worker.wake()

    def quiet_failures() -> int:
        return sum(r.name == "oicp.worker" and r.levelno == logging.DEBUG
                   for r in caplog.records)

    # Many failed rounds on both lanes (each one a connection refused) ...
    await wait_for(lambda: quiet_failures() >= 14, timeout=60)
    assert min(rt.worker._failures[outbox.CDR], rt.worker._failures[outbox.NOTIFICATION]) >= 2
    warned = [r for r in caplog.records
              if r.name == "oicp.worker" and r.levelno == logging.WARNING]
    # ... and one warning per lane, the rest at DEBUG.
    assert sorted(r.getMessage().split(":")[0] for r in warned) == [
        f"OICP {outbox.CDR}", f"OICP {outbox.NOTIFICATION}"], [r.getMessage() for r in warned]


async def test_evse_data_left_out_of_a_push_is_visible_through_the_api(
        hub_factory: Any, mock: MockHubject) -> None:
    running = await hub_factory(dev=True, oicp=oicp_settings(
        mock, evses=[], evse_data_change_delay=0.05))
    await add_station(running, "CP-70")
    await add_organisation(running)
    body = site_body("CP-70")
    del body["street"]  # Hubject needs an address
    async with aiohttp.ClientSession(headers=running.auth) as http:
        async with http.post(running.http_url + "/sites", json=body) as response:
            assert response.status == 201

        async with http.get(running.http_url + "/api/oicp/evse-data/skipped") as response:
            assert response.status == 200
            now_skipped = await response.json()
        assert set(now_skipped["skipped"]) == {EVSE_A, EVSE_B}
        assert "street" in now_skipped["skipped"][EVSE_A].lower()
        assert now_skipped["published"] == 0

        async def last_push() -> dict[str, Any]:
            async with http.get(running.http_url + "/api/oicp/outbox") as response:
                return (await response.json())["evse_data"]

        # The sync the write queued found nothing to publish, and says which and why.
        pushed = await wait_for(lambda: _with_skips(last_push()))
        assert set(pushed["skipped"]) == {EVSE_A, EVSE_B}
    assert mock.accepted("PushEvseData") == []


async def _with_skips(report: Any) -> Any:
    value = await report
    return value if value.get("skipped") else None

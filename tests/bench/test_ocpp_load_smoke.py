"""Smoke test of the OCPP load generator: a couple of seconds against both baseline servers.

No timing assertions: only that stations booted and every kind of message really made the round
trip, with zero errors, and that the generator does count a wrong answer as an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bench.ocpp_bench.generator import connect_station, heartbeat_loop
from bench.ocpp_bench.station import Recorder

REPO = Path(__file__).resolve().parents[2]
STATIONS = 4


def test_generator_round_trips_against_both_baselines(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "ocpp_load.py"),
            "--only",
            "ocpp,raw",
            "--stations",
            str(STATIONS),
            "--seconds",
            "1",
            "--warmup",
            "0.2",
            "--json",
            str(out),
        ],  # fmt: skip
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "heartbeat rt/s" in proc.stdout
    report = json.loads(out.read_text())
    assert [r["server"] for r in report["results"]] == ["ocpp", "raw"]
    for res in report["results"]:
        assert not res.get("failed"), res
        assert res["connected"] == STATIONS
        assert res["errors"].get("counts", {}) == {}, res["errors"]
        hb = res["phases"]["heartbeat"]
        assert hb["messages"] > 0 and hb["stations_alive"] == STATIONS
        assert hb["p50_ms"] is not None and hb["p99_ms"] >= hb["p50_ms"]
        tx = res["phases"]["txmix"]
        assert tx["transactions"] > 0
        assert set(tx["by_action"]) == {
            "Authorize",
            "StartTransaction",
            "MeterValues",
            "StopTransaction",
        }
        assert tx["id_tag_status"].keys() == {"Accepted"}


def _bad_server(mode: str) -> web.Application:
    """Answers BootNotification/StatusNotification correctly and Heartbeat wrongly."""

    async def handler(request):
        ws = web.WebSocketResponse(protocols=("ocpp1.6",))
        await ws.prepare(request)
        async for msg in ws:
            _, uid, action, _ = json.loads(msg.data)
            if action != "Heartbeat":
                answer = [3, uid, {"status": "Accepted", "interval": 1, "currentTime": "x"}]
            elif mode == "callerror":
                answer = [4, uid, "InternalError", "boom", {}]
            elif mode == "wrong-id":
                answer = [3, uid + "x", {"currentTime": "x"}]
            else:  # an empty payload
                answer = [3, uid, {}]
            await ws.send_str(json.dumps(answer))
        return ws

    app = web.Application()
    app.router.add_get("/{path:.*}", handler)
    return app


async def _heartbeat_errors(mode: str) -> tuple[dict[str, int], int]:
    server = TestServer(_bad_server(mode), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            boot = Recorder(0.0, 0.0)
            url = f"ws://127.0.0.1:{server.port}/ocpp"
            st = await connect_station(session, url, "BENCH-00001", boot)
            assert st is not None and boot.errors.total() == 0, boot.errors.as_dict()
            now = time.perf_counter()
            rec = Recorder(now, now + 0.3)
            with contextlib.suppress(TimeoutError):  # wrong-id: the right answer never comes
                await asyncio.wait_for(heartbeat_loop(st, rec), 1.0)
            await st.ws.close()
    finally:
        await server.close()
    return dict(rec.errors.counts), rec.count


@pytest.mark.parametrize(
    "mode, kind",
    [
        ("callerror", "Heartbeat: CALLERROR InternalError"),
        ("wrong-id", "Heartbeat: mismatched unique id"),
        ("empty", "Heartbeat: no currentTime"),
    ],
)
async def test_wrong_answers_count_as_errors(mode, kind):
    errors, counted = await _heartbeat_errors(mode)
    assert set(errors) == {kind} and errors[kind] >= 1
    assert counted == 0

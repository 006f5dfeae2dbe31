"""Smoke test of the OCPP load generator: a couple of seconds against the servers, per version.

No timing assertions: only that stations booted and every kind of message really made the round
trip, with zero errors (the hub keeping every fact it answered), and that the generator does
count a wrong answer as an error.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bench.ocpp_bench.generator import connect_station, heartbeat_loop
from bench.ocpp_bench.report import median, round_ratios
from bench.ocpp_bench.station import Recorder
from bench.ocpp_bench.versions import DIALECTS
from tests.harness import wait_for

REPO = Path(__file__).resolve().parents[2]
STATIONS = 4
VERSIONS = sorted(DIALECTS)


def _run_bench(tmp_path: Path, *options: str) -> tuple[dict, str]:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "ocpp_load.py"),
            "--stations",
            str(STATIONS),
            "--seconds",
            "1",
            "--warmup",
            "0.2",
            "--json",
            str(out),
            *options,
        ],  # fmt: skip
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text()), proc.stdout


def _assert_clean_txmix(res: dict, version: str) -> None:
    assert not res.get("failed"), res
    assert res["connected"] == STATIONS
    assert res["errors"].get("counts", {}) == {}, res["errors"]
    tx = res["phases"]["txmix"]
    assert tx["transactions"] > 0
    # Every kind of message made the round trip during the run. Not "inside the one-second
    # window": on a loaded machine a window may close before a station got past its first
    # message, and a station always finishes the transaction it started after the window.
    assert set(DIALECTS[version].tx_labels) <= set(res["answered"]), res["answered"]
    assert set(tx["by_action"]) <= set(DIALECTS[version].tx_labels)
    assert tx["id_tag_status"].keys() == {"Accepted"}


@pytest.mark.parametrize("version", VERSIONS)
def test_generator_round_trips_against_both_baselines(tmp_path, version):
    report, stdout = _run_bench(tmp_path, "--only", "ocpp,raw", "--ocpp-version", version)
    assert "heartbeat rt/s" in stdout
    assert f"{DIALECTS[version].title} load" in stdout
    assert report["ocpp_version"] == version
    assert [r["server"] for r in report["results"]] == ["ocpp", "raw"]
    for res in report["results"]:
        _assert_clean_txmix(res, version)
        hb = res["phases"]["heartbeat"]
        assert hb["messages"] > 0 and hb["stations_alive"] == STATIONS
        assert hb["p50_ms"] is not None and hb["p99_ms"] >= hb["p50_ms"]


@pytest.mark.skipif(not (REPO / "hub" / "cli.py").exists(), reason="no hub in this tree")
@pytest.mark.parametrize("version", VERSIONS)
def test_hub_answers_the_transaction_mix_and_keeps_it(tmp_path, version):
    report, stdout = _run_bench(
        tmp_path, "--only", "hub", "--phases", "txmix", "--ocpp-version", version
    )
    (res,) = report["results"]
    _assert_clean_txmix(res, version)
    dialect = DIALECTS[version]
    answered = res["answered"]
    assert res["database"]["transactions"] >= answered[dialect.started] > 0
    samples = sum(answered.get(label, 0) * n for label, n in dialect.samples.items())
    assert res["database"]["meter_values"] >= samples > 0
    assert "LOST DATA" not in stdout


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


def _open_window() -> Recorder:
    """A window that outlasts the test: it ends once the loop recorded an error, not at a
    time a loaded machine may reach before the first exchange was answered."""
    now = time.perf_counter()
    return Recorder(now, now + 600)


async def _until_an_error(loop: Coroutine[Any, Any, None], rec: Recorder) -> None:
    """Run a load loop until it recorded an error (with wrong-id, the loop would wait
    forever for the right answer)."""
    task = asyncio.ensure_future(loop)
    try:
        await wait_for(lambda: rec.errors.total() >= 1 or task.done(), timeout=30)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _heartbeat_errors(mode: str) -> tuple[dict[str, int], int]:
    server = TestServer(_bad_server(mode), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            boot = Recorder(0.0, 0.0)
            url = f"ws://127.0.0.1:{server.port}/ocpp"
            st = await connect_station(session, url, "BENCH-00001", boot)
            assert st is not None and boot.errors.total() == 0, boot.errors.as_dict()
            rec = _open_window()
            await _until_an_error(heartbeat_loop(st, rec), rec)
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


def _server201_without_id_token_info() -> web.Application:
    """A 2.0.1 server that forgets idTokenInfo in its TransactionEvent answers."""

    async def handler(request):
        ws = web.WebSocketResponse(protocols=("ocpp2.0.1",))
        await ws.prepare(request)
        async for msg in ws:
            _, uid, action, _ = json.loads(msg.data)
            payload = {"status": "Accepted", "interval": 1, "currentTime": "x"}
            if action == "Authorize":
                payload = {"idTokenInfo": {"status": "Accepted"}}
            elif action == "TransactionEvent":
                payload = {}
            await ws.send_str(json.dumps([3, uid, payload]))
        return ws

    app = web.Application()
    app.router.add_get("/{path:.*}", handler)
    return app


async def test_201_transaction_event_without_id_token_info_is_an_error():
    dialect = DIALECTS["2.0.1"]
    server = TestServer(_server201_without_id_token_info(), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            url = f"ws://127.0.0.1:{server.port}/ocpp"
            boot = Recorder(0.0, 0.0)
            st = await connect_station(session, url, "BENCH-00001", boot, dialect)
            assert st is not None and boot.errors.total() == 0, boot.errors.as_dict()
            rec = _open_window()
            await _until_an_error(dialect.txmix_loop(st, rec), rec)
            await st.ws.close()
    finally:
        await server.close()
    kind = "TransactionEvent Started: no idTokenInfo.status"
    assert set(rec.errors.counts) == {kind}
    assert set(rec.by_action) == {"Authorize", "TransactionEvent Started"}
    assert rec.transactions == 0


async def test_a_server_without_the_subprotocol_is_refused():
    server = TestServer(_bad_server("empty"), host="127.0.0.1")  # speaks ocpp1.6 only
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            url = f"ws://127.0.0.1:{server.port}/ocpp"
            boot = Recorder(0.0, 0.0)
            st = await connect_station(session, url, "BENCH-00001", boot, DIALECTS["2.0.1"])
    finally:
        await server.close()
    assert st is None
    assert set(boot.errors.counts) == {"connect: subprotocol ocpp2.0.1 not negotiated"}


def _rounds(*windows: tuple[int, float, float]) -> dict:
    """A server's result with txmix windows (round, messages per second, server CPU)."""
    return {"rounds": [{"phase": "txmix", "round": n, "per_second": rate, "server_cpu": cpu}
                       for n, rate, cpu in windows]}


def test_round_ratios_pair_windows_of_the_same_round():
    # The hub's round 2 was disturbed (half the rate for the same CPU); each round's ratio
    # compares the two servers' windows of that round only, and the median skips the outlier.
    hub = _rounds((1, 1500, 1.0), (2, 700, 1.0), (3, 1300, 1.0), (4, 900, 0.01))
    ocpp = _rounds((1, 1000, 1.0), (2, 1000, 1.0), (3, 1000, 1.0), (4, 1000, 1.0))
    ratios = round_ratios(hub, ocpp, "txmix")
    assert ratios == pytest.approx([1.5, 0.7, 1.3])  # round 4: too little CPU to divide by
    assert median(ratios) == pytest.approx(1.3)
    assert median([1.0, 2.0]) == pytest.approx(1.5)
    assert median([]) is None

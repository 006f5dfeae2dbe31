"""Broker redirects with two real servers: the hub and a second OCPP backend
(tests/hub/ocpp_server/upstream.py, built on the `ocpp` package), real `ocpp` 1.6 and 2.0.1
chargers, and a real database.

Every wait is on a condition (a frame arrived, a socket closed, a row was written), never on a
fixed sleep.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import ssl
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
import websockets
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from hub.db.models import OcppMessage, Station
from hub.db.models_redirects import RedirectEvent, StationRedirect
from hub.ocpp_server import mirror, relay
from tests.harness import RunningHub, connect_station, connect_station201, wait_for
from tests.hub.ocpp_server.test_handshake import tls_files  # noqa: F401  (the fixture)
from tests.hub.ocpp_server.upstream import UPSTREAM_INTERVAL, running_upstream, unused_port

SECRET = "upstream-s3cret-pw-4711"
CLOSE_WAIT = 30.0  # a bound, not a window: a socket that is not closed by then never will be
HUB_INTERVAL = 300  # the hub's default heartbeat interval (the upstream answers 17)


async def add_station(running: RunningHub, station_id: str) -> None:
    async with running.hub.sessions() as session, session.begin():
        session.add(Station(id=station_id))


async def api(running: RunningHub, method: str, path: str, **kwargs: Any
              ) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.request(
            method, running.http_url + path, headers=running.auth, **kwargs) as response:
        text = await response.text()
        try:
            return response.status, json.loads(text)
        except ValueError:
            return response.status, text


async def redirect_state(running: RunningHub, station_id: str) -> dict[str, Any]:
    status, body = await api(running, "GET", "/api/op_redirects")
    assert status == 200
    return next(r for r in body["op_redirects"] if r["station_id"] == station_id)


async def log_rows(running: RunningHub, station_id: str) -> list[OcppMessage]:
    async with running.hub.sessions() as session:
        query = (sa.select(OcppMessage).where(OcppMessage.station_id == station_id)
                 .order_by(OcppMessage.id))
        return list((await session.execute(query)).scalars().all())


def logged(rows: list[OcppMessage], via: str | None) -> set[tuple[str, int, str | None]]:
    return {(r.direction, r.message_type, r.action) for r in rows if r.via == via}


async def test_relay_16_upstream_answers_and_commands_reach_the_charger(
        hub: RunningHub, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with running_upstream(passwords={"CP-R16": SECRET}) as upstream:
        await add_station(hub, "CP-R16")
        status, body = await api(hub, "POST", "/api/op_redirects", json={
            "station_id": "CP-R16", "target_url": upstream.url(), "upstream_password": SECRET})
        assert status == 201, body
        assert body["upstream_password_set"] is True and "upstream_password" not in body
        assert body["upstream_url"] == f"{upstream.url()}/CP-R16"

        async with connect_station(hub, "CP-R16") as station:
            boot = await station.boot()
            assert boot.interval == UPSTREAM_INTERVAL  # the upstream answered, not the hub
            central = upstream.stations["CP-R16"]
            assert central.received == ["BootNotification"]

            started = await central.call(call16.RemoteStartTransaction(id_tag="TAG-1",
                                                                       connector_id=1))
            assert started.status == "Accepted"
            assert [r.action for r in station.received] == ["RemoteStartTransaction"]
            assert station.received[0].payload["id_tag"] == "TAG-1"

            # The hub's own API may not command a station another backend runs.
            status, body = await api(hub, "POST", "/api/reset", json={"station_id": "CP-R16"})
            assert (status, body["error"]) == (409, "station_redirected")

            state = await redirect_state(hub, "CP-R16")
            assert state["station_connected"] and state["upstream_connected"]
            assert state["active_mode"] == "relay"
            assert (state["frames_to_upstream"], state["frames_from_upstream"]) == (2, 2)

            rows = await wait_for(lambda: _both_ways(hub, "CP-R16"), timeout=15)
            assert {("in", 2, "BootNotification"), ("out", 3, "BootNotification"),
                    ("out", 2, "RemoteStartTransaction"),
                    ("in", 3, "RemoteStartTransaction")} <= logged(rows, "relay")
            assert logged(rows, None) == set()  # nothing was dispatched by the hub itself

    # The password went to the upstream, and nowhere else.
    basic = "Basic " + base64.b64encode(f"CP-R16:{SECRET}".encode()).decode()
    assert upstream.authorizations == [basic]
    status, listing = await api(hub, "GET", "/api/op_redirects")
    status, history = await api(hub, "GET", "/api/op_redirects/CP-R16/history")
    # The hub's and aiohttp's records; not the test upstream's (websockets), nor the database
    # driver's DEBUG statement log, which shows bound parameters (README: Broker redirects).
    hub_logs = "\n".join(r.getMessage() for r in caplog.records
                         if not r.name.startswith(("websockets", "aiosqlite", "sqlalchemy")))
    assert "CP-R16" in hub_logs
    for secret in (SECRET, basic[6:]):
        assert secret not in json.dumps(listing) + json.dumps(history) + hub_logs
    assert all(SECRET not in r.payload for r in await log_rows(hub, "CP-R16"))
    assert history["history"][0]["actor"] == "test admin"


async def _both_ways(running: RunningHub, station_id: str) -> list[OcppMessage] | None:
    rows = await log_rows(running, station_id)
    return rows if len([r for r in rows if r.via == "relay"]) >= 4 else None


async def test_relay_201_and_disabling_with_reconnect_brings_the_station_back(
        hub: RunningHub) -> None:
    async with running_upstream() as upstream:
        await add_station(hub, "CP-R201")
        status, body = await api(hub, "POST", "/api/op_redirects", json={
            "station_id": "CP-R201", "target_url": upstream.url(template=True),
            "mode": "relay"})
        assert status == 201, body

        async with connect_station201(hub, "CP-R201") as station:
            boot = await station.boot()
            assert boot.interval == UPSTREAM_INTERVAL
            central = upstream.stations["CP-R201"]
            answer = await central.call(call201.RequestStartTransaction(
                id_token={"id_token": "TAG-201", "type": "Central"}, remote_start_id=7))
            assert answer.status == "Accepted"
            assert station.received[-1].action == "RequestStartTransaction"
            status, body = await api(hub, "POST", "/api/reset", json={"station_id": "CP-R201"})
            assert (status, body["error"]) == (409, "station_redirected")
            rows = await wait_for(lambda: _both_ways(hub, "CP-R201"), timeout=15)
            assert ("out", 2, "RequestStartTransaction") in logged(rows, "relay")

            # Disable at once: the hub closes the station's socket (1012), and the upstream's.
            status, body = await api(hub, "POST", "/api/op_redirects", json={
                "station_id": "CP-R201", "enabled": False, "reconnect": True})
            assert status == 200 and body["enabled"] is False
            await asyncio.wait_for(station._connection.wait_closed(), CLOSE_WAIT)
            assert station._connection.close_code == 1012
            await wait_for(lambda: "CP-R201" in upstream.closed)

        async with connect_station201(hub, "CP-R201") as station:
            boot = await station.boot()
            assert boot.interval == HUB_INTERVAL  # the hub is its backend again
            status, body = await api(hub, "POST", "/api/reset", json={"station_id": "CP-R201"})
            assert (status, body["status"]) == (200, "Accepted")
        assert list(upstream.stations) == ["CP-R201"]  # the second connection stayed here


async def test_mirror_the_hub_answers_and_the_upstream_gets_copies(hub: RunningHub) -> None:
    async with running_upstream() as upstream:
        await add_station(hub, "CP-M")
        status, body = await api(hub, "POST", "/api/op_redirects", json={
            "station_id": "CP-M", "target_url": upstream.url(), "mode": "mirror"})
        assert status == 201, body
        async with connect_station(hub, "CP-M") as station:
            boot = await station.boot()
            assert boot.interval == HUB_INTERVAL  # the hub answered
            central = await wait_for(lambda: upstream.stations.get("CP-M"))
            await wait_for(lambda: central.received == ["BootNotification"])
            status, body = await api(hub, "POST", "/api/reset", json={"station_id": "CP-M"})
            assert (status, body["status"]) == (200, "Accepted")  # commands work as usual

            rows = await wait_for(lambda: _mirrored(hub, "CP-M"), timeout=15)
            assert ("in", 3, "BootNotification") in logged(rows, "mirror")  # logged, dropped
            assert ("in", 2, "BootNotification") in logged(rows, None)  # the hub's own
            assert ("out", 2, "Reset") in logged(rows, None)
            state = await redirect_state(hub, "CP-M")
            assert state["active_mode"] == "mirror" and state["frames_from_upstream"] == 1
            # The hub's Reset and the station's answer to it are not copied to the upstream.
            assert central.received == ["BootNotification"]


async def _mirrored(running: RunningHub, station_id: str) -> list[OcppMessage] | None:
    rows = await log_rows(running, station_id)
    return rows if any(r.via == "mirror" for r in rows) else None


async def test_mirror_queue_is_bounded_while_the_upstream_is_down(
        hub: RunningHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mirror, "MIRROR_QUEUE", 2)
    await add_station(hub, "CP-MQ")
    await api(hub, "POST", "/api/op_redirects", json={
        "station_id": "CP-MQ", "target_url": f"ws://127.0.0.1:{unused_port()}/x",
        "mode": "mirror"})
    async with connect_station(hub, "CP-MQ") as station:
        await station.boot()
        for _ in range(5):
            await station.call(call16.Heartbeat())
        state = await redirect_state(hub, "CP-MQ")
        assert state["frames_dropped"] == 4  # 6 CALLs, 2 queued for an upstream that is down
        assert "unreachable" in (await wait_for(lambda: _db_error(hub, "CP-MQ")))


async def _db_error(running: RunningHub, station_id: str) -> str | None:
    async with running.hub.sessions() as session:
        row = await session.get(StationRedirect, station_id)
        return row.last_error if row else None


async def test_upstream_down_refuses_the_station_with_retry_after(hub: RunningHub) -> None:
    await add_station(hub, "CP-DOWN")
    await api(hub, "POST", "/api/op_redirects", json={
        "station_id": "CP-DOWN", "target_url": f"ws://127.0.0.1:{unused_port()}/ocpp"})
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with connect_station(hub, "CP-DOWN"):
            pass
    assert refused.value.response.status_code == 503
    assert int(refused.value.response.headers["Retry-After"]) >= 0
    assert "CP-DOWN" not in hub.hub.stations
    state = await redirect_state(hub, "CP-DOWN")
    assert "upstream unreachable" in state["last_error"] and not state["upstream_connected"]
    assert "unreachable" in (await wait_for(lambda: _db_error(hub, "CP-DOWN")))


async def test_upstream_refusing_the_station_is_passed_on(hub: RunningHub) -> None:
    async with running_upstream(passwords={"CP-PW": SECRET}) as upstream:
        await add_station(hub, "CP-PW")
        await api(hub, "POST", "/api/op_redirects", json={
            "station_id": "CP-PW", "target_url": upstream.url(),
            "upstream_password": "not-the-password"})
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with connect_station(hub, "CP-PW"):
                pass
        assert refused.value.response.status_code == 401
        assert "HTTP 401" in (await redirect_state(hub, "CP-PW"))["last_error"]


async def test_one_side_closing_closes_the_other(hub: RunningHub) -> None:
    async with running_upstream() as upstream:
        await add_station(hub, "CP-C")
        await api(hub, "POST", "/api/op_redirects", json={
            "station_id": "CP-C", "target_url": upstream.url()})
        # The station leaves: the upstream's connection ends.
        async with connect_station(hub, "CP-C") as station:
            await station.boot()
        await wait_for(lambda: upstream.closed == ["CP-C"])
        await wait_for(lambda: "CP-C" not in hub.hub.stations)

        # The upstream leaves: the station is closed with 1012 (reconnect), the error kept.
        async with connect_station(hub, "CP-C") as station:
            await station.boot()
            await upstream.connections["CP-C"].close()
            await asyncio.wait_for(station._connection.wait_closed(), CLOSE_WAIT)
            assert station._connection.close_code == relay.UPSTREAM_CLOSED
        await wait_for(lambda: "CP-C" not in hub.hub.stations)
        state = await redirect_state(hub, "CP-C")
        assert "upstream closed" in state["last_error"] and not state["station_connected"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_bad_input_is_a_400_naming_the_field(hub_factory: Any) -> None:
    running = await hub_factory(dev=True, server={"public_url": "https://hub.example.com"})
    await add_station(running, "CP-B")
    good = {"station_id": "CP-B", "target_url": "wss://backend.example.com/ocpp"}
    cases = [
        ({**good, "target_url": "http://backend.example.com/ocpp"}, "target_url"),
        ({**good, "target_url": f"ws://127.0.0.1:{running.port}/ocpp"}, "target_url"),
        ({**good, "target_url": f"ws://localhost:{running.port}/ocpp"}, "target_url"),
        ({**good, "target_url": "wss://hub.example.com/ocpp"}, "target_url"),
        ({**good, "target_url": "ws://user:pw@backend.example.com/ocpp"}, "target_url"),
        ({**good, "target_url": "ws://backend.example.com/{other}"}, "target_url"),
        ({**good, "station_id": "CP-NOPE"}, "station_id"),
        ({**good, "mode": "proxy"}, "mode"),
        ({**good, "enabled": "maybe"}, "enabled"),
        ({**good, "upstream_password": 42}, "upstream_password"),
        ({**good, "client_cert": "/nonexistent.pem"}, "client_cert"),
        ({"station_id": "CP-B"}, "target_url"),  # required to create
    ]
    for body, field in cases:
        status, answer = await api(running, "POST", "/api/op_redirects", json=body)
        assert (status, answer.get("field")) == (400, field), (body, answer)
    status, answer = await api(running, "GET", "/setRedirect",
                               params={"station_id": "CP-B", "target": "ftp://x/y"})
    assert (status, answer["field"]) == (400, "target")
    status, answer = await api(running, "POST", "/WallboxManagement/createRedirect",
                               json={"station_id": "CP-B", "target_url": "ws://"})
    assert (status, answer["field"]) == (400, "target_url")
    status, answer = await api(running, "DELETE", "/api/op_redirects/CP-B")
    assert (status, answer["error"]) == (404, "unknown_redirect")
    status, _ = await api(running, "GET", "/api/op_redirects/CP-NOPE/history")
    assert status == 404
    status, answer = await api(running, "GET", "/api/op_redirects")
    assert answer == {"op_redirects": [], "count": 0}  # nothing was stored


async def test_seed_forms_history_and_refresh(hub: RunningHub) -> None:
    async with running_upstream() as upstream:
        await add_station(hub, "CP-S")
        status, body = await api(hub, "GET", "/setRedirect", params={
            "station_id": "CP-S", "target": upstream.url(), "enabled": "false"})
        assert (status, body["result"], body["redirect"]["enabled"]) == (200, "ok", False)

        # createRedirect creates only if missing: the existing redirect is left as it is.
        status, body = await api(hub, "POST", "/WallboxManagement/createRedirect", json={
            "station_id": "CP-S", "target_url": "ws://elsewhere.example.com/ocpp"})
        assert (status, body["result"]) == (200, "exists")
        assert body["redirect"]["target_url"] == upstream.url()

        status, body = await api(hub, "POST", "/api/op_redirects", json={
            "station_id": "CP-S", "upstream_password": SECRET})
        assert status == 200

        # Disabled: the hub serves the station.
        async with connect_station(hub, "CP-S") as station:
            assert (await station.boot()).interval == HUB_INTERVAL

        # A change written to the database by someone else applies after a refresh.
        async with hub.hub.sessions() as session, session.begin():
            await session.execute(sa.update(StationRedirect).values(enabled=True))
        status, text = await api(hub, "GET", "/refreshStationList")
        assert (status, text) == (200, "done.")
        async with connect_station(hub, "CP-S") as station:
            assert (await station.boot()).interval == UPSTREAM_INTERVAL

        status, body = await api(hub, "DELETE", "/api/op_redirects/CP-S")
        assert (status, body) == (200, {"deleted": True, "station_id": "CP-S"})
        status, body = await api(hub, "GET", "/api/op_redirects/CP-S/history")
        actions = [(e["action"], e["detail"]) for e in body["history"]]
        assert actions == [("deleted", None), ("updated", "upstream_password set"),
                           ("created", None)]
        assert {e["actor"] for e in body["history"]} == {"test admin"}
    async with hub.hub.sessions() as session:
        details = (await session.execute(sa.select(RedirectEvent.detail))).scalars().all()
    assert SECRET not in repr(details)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_relay_to_wss_upstream_with_a_client_certificate(
        hub: RunningHub, tls_files: dict[str, Path]) -> None:  # noqa: F811
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(str(tls_files["server"].with_suffix(".crt")),
                           str(tls_files["server"].with_suffix(".key")))
    server.load_verify_locations(cafile=str(tls_files["ca.crt"]))
    server.verify_mode = ssl.CERT_REQUIRED  # the upstream insists on security profile 3
    async with running_upstream(ssl_context=server) as upstream:
        await add_station(hub, "CP-TLS")
        identity = tls_files["good"]  # a certificate issued to CP-TLS
        status, body = await api(hub, "POST", "/api/op_redirects", json={
            "station_id": "CP-TLS", "target_url": upstream.url(),
            "client_cert": str(identity.with_suffix(".crt")),
            "client_key": str(identity.with_suffix(".key")),
            "ca_bundle": str(tls_files["ca.crt"])})
        assert status == 201, body
        async with connect_station(hub, "CP-TLS") as station:
            assert (await station.boot()).interval == UPSTREAM_INTERVAL
        assert upstream.client_cns == ["CP-TLS"]

        # Without the certificate the upstream's TLS handshake fails: the station gets a 503.
        await api(hub, "POST", "/api/op_redirects", json={
            "station_id": "CP-TLS", "client_cert": None, "client_key": None})
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with connect_station(hub, "CP-TLS"):
                pass
        assert refused.value.response.status_code == 503

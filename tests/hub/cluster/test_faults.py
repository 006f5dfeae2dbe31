"""Three hub processes with OICP against a mock Hubject: remote starts sent to any node reach
the station wherever it is, the outbox is drained by one node at a time (each row sent once),
and SIGKILL of the draining node in the middle of transactions loses nothing: its station
reconnects to another node, commands follow it, another node takes the outbox over."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import sqlalchemy as sa
import websockets
from ocpp.v16 import call

from hub.db import create_engine
from hub.db.models import OutboxMessage, Station, Transaction
from oicp.mock_hubject import MockHubject
from tests.harness import TestStation, now, running_charge_point, wait_for
from tests.harness.process import HubProcess
from tests.hub.cluster.conftest import Cluster
from tests.hub.cluster.test_routing import connected_everywhere, reset_via
from tests.oicp.conftest import EVCO, OPERATOR, PROVIDER, remote_start_body, webhook

STATIONS = {"CP-A": "DE*ABC*E1001*1", "CP-B": "DE*ABC*E1002*1", "CP-C": "DE*ABC*E1003*1"}


def oicp_config(path: Path, mock: MockHubject) -> Path:
    evses = "".join(f'\n[[oicp.evses]]\nevse_id = "{evse}"\nstation_id = "{sid}"\n'
                    'connector_id = 1\ntimezone = "Europe/Berlin"\n'
                    for sid, evse in STATIONS.items())
    path.write_text(f'''[oicp]
operator_id = "{OPERATOR}"
operator_name = "ACME Charging"
base_url = "{mock.url}"
poll_interval = 0.05
retry_initial = 0.01
retry_max = 0.2
retry_attempts = 2
request_timeout = 2.0
authorize_timeout = 2.0
progress_interval = 0
providers = ["{PROVIDER}"]
hotline_phone_number = "+4930123456"
{evses}''')
    return path


@contextlib.asynccontextmanager
async def plugged(node: HubProcess, station_id: str) -> AsyncIterator[TestStation]:
    async with websockets.connect(node.ws_url(station_id), subprotocols=["ocpp1.6"]) as ws:
        async with running_charge_point(TestStation(station_id, ws)) as cp:
            await cp.boot()
            await cp.call(call.StatusNotification(connector_id=1, error_code="NoError",
                                                  status="Available"))
            yield cp


async def remote_start(cluster: Cluster, via: str, station: TestStation, evse: str) -> tuple[
        str, int]:
    """A Hubject remote start sent to node ``via``; the station starts the transaction."""
    sid = str(uuid.uuid4())
    node = SimpleNamespace(http_url=f"http://127.0.0.1:{cluster.nodes[via].port}")
    code, ack = await webhook(node, "start", remote_start_body(sid, evse))  # type: ignore[arg-type]
    assert code == 200 and ack["Result"] is True, ack
    assert [r.action for r in station.received].count("RemoteStartTransaction") >= 1
    started = await station.call(call.StartTransaction(
        connector_id=1, id_tag=EVCO.upper(), meter_start=1000, timestamp=now()))
    assert started.id_tag_info["status"] == "Accepted"
    return sid, started.transaction_id


async def stop(station: TestStation, tx: int, meter_stop: int) -> None:
    answer = await station.call(call.StopTransaction(meter_stop=meter_stop, timestamp=now(),
                                                     transaction_id=tx, reason="Remote"))
    assert answer is not None


async def pending_rows(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(sa.select(sa.func.count()).where(
                OutboxMessage.delivered_at.is_(None)))).scalar_one()
    finally:
        await engine.dispose()


async def test_outbox_once_and_a_killed_node_loses_nothing(cluster: Cluster,
                                                           tmp_path: Path) -> None:
    mock = await MockHubject().start()
    try:
        settings = {"config": str(oicp_config(tmp_path / "hub.toml", mock)),
                    "cluster__presence_ttl": "3"}
        # C starts first: it drains the outbox (it takes the lock first), and it is killed.
        nodes = {n: await cluster.start(n, **settings) for n in ("C", "A", "B")}
        sessions: dict[str, str] = {}
        transactions: dict[str, int] = {}
        async with plugged(nodes["A"], "CP-A") as cp_a, plugged(nodes["B"], "CP-B") as cp_b:
            async with plugged(nodes["C"], "CP-C") as cp_c, \
                    plugged(nodes["C"], "CP-GONE") as gone:
                for sid in STATIONS:
                    await wait_for(lambda sid=sid: connected_everywhere(
                        cluster, sid, ["A", "B", "C"], sid[-1]), 20)
                # Every remote start goes to node A, wherever the station is.
                for station in (cp_a, cp_b, cp_c):
                    sessions[station.id], transactions[station.id] = await remote_start(
                        cluster, "A", station, STATIONS[station.id])
                assert [r.action for r in cp_c.received] == ["RemoteStartTransaction"]
                await stop(cp_a, transactions["CP-A"], 5000)
                await wait_for(lambda: len(mock.accepted("ChargeDetailRecord")) == 1, 20)
                # Nothing in flight at the kill: a row Hubject accepted in the instant before
                # its node died is sent again by the next drainer (at least once, as after
                # a crash of a single hub); here every row must go exactly once.
                await wait_for(lambda: _drained(cluster), 20)
                # SIGKILL of C (the drainer) while CP-C and CP-B are charging.
                nodes["C"].kill()
                await wait_for(lambda: cp_c._connection.close_code is not None, 20)
                await wait_for(lambda: gone._connection.close_code is not None, 20)

            # CP-C reconnects, to B (as a load balancer would send it), and commands follow.
            async with websockets.connect(nodes["B"].ws_url("CP-C"),
                                          subprotocols=["ocpp1.6"]) as ws:
                async with running_charge_point(TestStation("CP-C", ws)) as cp_c2:
                    await cp_c2.boot()
                    await wait_for(lambda: connected_everywhere(cluster, "CP-C", ["A", "B"], "B"),
                                   30)
                    assert await reset_via(cluster, "A", "CP-C") == (
                        200, {"status": "Accepted", "type": "Soft"})
                    await stop(cp_c2, transactions["CP-C"], 7000)
                    await stop(cp_b, transactions["CP-B"], 6000)
                    # Another node took the outbox over: every CDR arrives.
                    await wait_for(lambda: len(mock.accepted("ChargeDetailRecord")) >= 3, 30)
                    await wait_for(lambda: _drained(cluster), 30)
                    # CP-GONE never came back: the presence sweep records it disconnected;
                    # CP-C, back on B, stays connected.
                    await wait_for(lambda: _connected_are({"CP-A", "CP-B", "CP-C"}, cluster),
                                   60)
        cdrs = mock.accepted("ChargeDetailRecord")
        assert sorted(c["SessionID"] for c in cdrs) == sorted(sessions.values())
        ends = [n for n in mock.accepted("ChargingNotifications") if n["Type"] == "End"]
        assert sorted(n["SessionID"] for n in ends) == sorted(sessions.values())
        starts = [n for n in mock.accepted("ChargingNotifications") if n["Type"] == "Start"]
        assert sorted(n["SessionID"] for n in starts) == sorted(sessions.values())
        engine = create_engine(cluster.database_url)
        async with engine.connect() as conn:
            rows = (await conn.execute(sa.select(
                Transaction.station_id, Transaction.meter_stop, Transaction.status))).all()
        await engine.dispose()
        assert sorted(rows) == [("CP-A", 5000, "completed"), ("CP-B", 6000, "completed"),
                                ("CP-C", 7000, "completed")]
    finally:
        await mock.stop()
    assert mock.invalid == [], mock.invalid


async def _connected(cluster: Cluster) -> set[str]:
    engine = create_engine(cluster.database_url)
    try:
        async with engine.connect() as conn:
            return set((await conn.execute(sa.select(Station.id).where(
                Station.connected.is_(True)))).scalars())
    finally:
        await engine.dispose()


async def _connected_are(expected: set[str], cluster: Cluster) -> bool:
    return await _connected(cluster) == expected


async def _drained(cluster: Cluster) -> bool:
    return await pending_rows(cluster.database_url) == 0

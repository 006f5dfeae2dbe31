"""Three hub processes, one PostgreSQL database, the local NATS: commands sent to any node reach
the station on the node holding its socket, with the errors a single node gives; a station
reconnecting to another node takes over there."""

from __future__ import annotations

import os

import sqlalchemy as sa
from ocpp.exceptions import NotSupportedError
from ocpp.v16 import call_result

from hub.db import create_engine
from hub.db.models import Station
from tests.harness import wait_for
from tests.harness.process import ROOT, free_port
from tests.hub.cluster.conftest import Cluster, station


async def connected_everywhere(cluster: Cluster, station_id: str, nodes: list[str],
                               holder: str) -> bool:
    """Every node sees the station connected to ``holder`` (its presence mirror caught up)."""
    for node in nodes:
        status, body = await cluster.get(node, f"/api/cluster/stations/{station_id}")
        if status != 200 or not body.get("connected") or body.get("node") != holder:
            return False
    return True


async def reset_via(cluster: Cluster, node: str, station_id: str) -> tuple[int, dict]:
    return await cluster.post(node, "/api/reset", {"station_id": station_id, "type": "Soft",
                                                   "timeout": 5})


async def test_commands_reach_the_holder_and_fail_as_on_one_node(cluster: Cluster) -> None:
    nodes = {n: await cluster.start(n) for n in ("A", "B", "C")}
    async with station(nodes["C"], "CP-C1") as on_c, station(nodes["B"], "CP-B1") as on_b:
        await wait_for(lambda: connected_everywhere(cluster, "CP-C1", ["A", "B", "C"], "C"),
                       20)
        await wait_for(lambda: connected_everywhere(cluster, "CP-B1", ["A", "B", "C"], "B"),
                       20)

        status, body = await reset_via(cluster, "A", "CP-C1")
        assert (status, body) == (200, {"status": "Accepted", "type": "Soft"})
        assert [r.action for r in on_c.received] == ["Reset"]
        assert on_b.received == []
        assert (await cluster.get("A", "/api/cluster"))[1]["commands_routed"] == 1
        assert (await cluster.get("C", "/api/cluster"))[1]["commands_served"] == 1

        # The charger's real answer comes back, whatever it is.
        on_b.answers["Reset"] = call_result.Reset(status="Rejected")
        assert await reset_via(cluster, "C", "CP-B1") == (200, {"status": "Rejected",
                                                                "type": "Soft"})

        # A CALLERROR reads the same routed as local.
        def refuse(**_: object) -> None:
            raise NotSupportedError(description="no resets here")

        on_c.answers["Reset"] = refuse
        local = await reset_via(cluster, "C", "CP-C1")
        routed = await reset_via(cluster, "A", "CP-C1")
        assert local[0] >= 400 and "NotSupported" in str(local[1])
        assert routed == local

        # A station that does not answer: CallTimeout, routed as local.
        on_b.delay = 8
        local = await cluster.post("B", "/api/reset", {"station_id": "CP-B1", "timeout": 1})
        routed = await cluster.post("A", "/api/reset", {"station_id": "CP-B1", "timeout": 1})
        assert local[0] >= 400 and "timeout" in str(local[1]).lower()
        assert routed == local
        on_b.delay = 0

    # Offline everywhere: StationOffline from every node, the same answer as the last holder's.
    await wait_for(lambda: _disconnected(cluster, "CP-C1"), 20)
    offline = {n: await reset_via(cluster, n, "CP-C1") for n in ("A", "B", "C")}
    assert offline["A"] == offline["B"] == offline["C"]
    assert offline["A"][0] == 409 or offline["A"][0] == 404, offline


async def _disconnected(cluster: Cluster, station_id: str) -> bool:
    for node in cluster.nodes:
        status, body = await cluster.get(node, f"/api/cluster/stations/{station_id}")
        if status != 200 or body.get("connected"):
            return False
    return True


async def test_reconnect_to_another_node_takes_over(cluster: Cluster) -> None:
    nodes = {n: await cluster.start(n) for n in ("A", "B", "C")}
    async with station(nodes["C"], "CP-MOVE") as first:
        await wait_for(lambda: connected_everywhere(cluster, "CP-MOVE", ["A", "B"], "C"), 20)
        # The other nodes heard of the connect once, from its presence entry; C forwarded no
        # StationConnected event besides (that announced every connect twice).
        assert await _stat(cluster, "A", "connects_heard") == 1
        assert await _stat(cluster, "C", "events_forwarded") == 0
        async with station(nodes["B"], "CP-MOVE") as second:
            # C closes its stale socket: the first connection ends.
            await wait_for(lambda: first._connection.close_code is not None, 20)
            assert first._connection.close_code == 1000
            # Commands from any node now reach the new connection.
            async def reaches_second() -> bool:
                status, _ = await reset_via(cluster, "A", "CP-MOVE")
                return status == 200 and bool(second.received)

            await wait_for(reaches_second, 20)
            assert first.received == []
            await wait_for(lambda: connected_everywhere(cluster, "CP-MOVE", ["A", "B", "C"],
                                                        "B"), 20)
            # The old holder routes to the new one too.
            before = len(second.received)
            assert (await reset_via(cluster, "C", "CP-MOVE"))[0] == 200
            assert len(second.received) == before + 1 and first.received == []
            assert await _stat(cluster, "A", "connects_heard") == 2  # C's, then B's
            # The takeover wrote no disconnect: the station is connected in the one store.
            engine = create_engine(cluster.database_url)
            async with engine.connect() as conn:
                connected = (await conn.execute(sa.select(Station.connected).where(
                    Station.id == "CP-MOVE"))).scalar_one()
            await engine.dispose()
            assert connected is True
        # Its disconnect from B: the other nodes hear of it from the entry's delete (the
        # takeover on C deleted nothing), and B forwards no StationDisconnected besides.
        await wait_for(lambda: _disconnected(cluster, "CP-MOVE"), 20)
        await wait_for(lambda: _stat_is(cluster, "A", "disconnects_heard", 1), 20)
        assert await _stat(cluster, "C", "disconnects_heard") == 1
        assert await _stat(cluster, "B", "events_forwarded") == 0


async def _stat(cluster: Cluster, node: str, name: str) -> int:
    status, body = await cluster.get(node, "/api/cluster")
    assert status == 200, body
    return body[name]


async def _stat_is(cluster: Cluster, node: str, name: str, value: int) -> bool:
    return await _stat(cluster, node, name) == value


def test_a_cluster_on_sqlite_refuses_to_start(tmp_path) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "hub", "serve", "--host", "127.0.0.1", "--port", str(free_port()),
         "--database-url", f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PNC_HUB_CLUSTER__NATS_URL": "nats://127.0.0.1:1"})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "PostgreSQL" in lines[0] and "nats_url" in lines[0], lines

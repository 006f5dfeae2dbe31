"""NATS going away and coming back, on a NATS server of the test's own (the shared one is never
stopped): every node keeps serving its own stations, commands to another node's station fail
at once with a clear 409, a node started without NATS runs alone, and the cluster recovers by
itself when NATS is back. Skipped without the ``nats-server`` binary or PostgreSQL."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import wait_for
from tests.harness.process import free_port
from tests.hub.cluster.conftest import Cluster, station
from tests.hub.cluster.test_routing import connected_everywhere, reset_via

NATS_SERVER = shutil.which("nats-server")


class OwnNats:
    def __init__(self, store: Path) -> None:
        self.port = free_port()
        self.store = store
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        assert NATS_SERVER is not None
        self.proc = subprocess.Popen(
            [NATS_SERVER, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise TimeoutError("nats-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[OwnNats]:
    if NATS_SERVER is None:
        pytest.skip("no nats-server binary to start and stop")
    server = OwnNats(tmp_path / "jetstream")
    yield server
    server.stop()


async def test_nats_outage_degrades_and_recovers(cluster: Cluster, own_nats: OwnNats) -> None:
    cluster.nats_url = own_nats.url
    # A node started while NATS is down starts anyway and serves its own stations.
    a = await cluster.start("A")
    state = (await cluster.get("A", "/api/cluster"))[1]
    assert state["clustered"] is True and state["nats_connected"] is False
    own_nats.start()
    b = await cluster.start("B")
    await wait_for(lambda: _linked(cluster, "A"), 30)
    async with station(a, "CP-ON-A") as on_a, station(b, "CP-ON-B") as on_b:
        await wait_for(lambda: connected_everywhere(cluster, "CP-ON-B", ["A", "B"], "B"),
                       30)
        assert (await reset_via(cluster, "A", "CP-ON-B"))[0] == 200

        own_nats.stop()
        await wait_for(lambda: _unlinked(cluster, "A"), 30)
        started = asyncio.get_running_loop().time()
        status, body = await reset_via(cluster, "A", "CP-ON-B")
        assert asyncio.get_running_loop().time() - started < 3  # fails fast, no hang
        assert status == 409 and body["error"] == "station_offline", body
        # Each node still commands its own stations.
        assert (await reset_via(cluster, "B", "CP-ON-B"))[0] == 200
        assert (await reset_via(cluster, "A", "CP-ON-A"))[0] == 200

        own_nats.start()
        await wait_for(lambda: _linked(cluster, "A"), 30)
        await wait_for(lambda: _linked(cluster, "B"), 30)

        async def routed_again() -> bool:
            return (await reset_via(cluster, "A", "CP-ON-B"))[0] == 200

        await wait_for(routed_again, 30)
        resets = [r for r in on_b.received if r.action == "Reset"]
        assert len(resets) >= 3
        assert [r.action for r in on_a.received] == ["Reset"]


async def _linked(cluster: Cluster, node: str) -> bool:
    return (await cluster.get(node, "/api/cluster"))[1]["nats_connected"] is True


async def _unlinked(cluster: Cluster, node: str) -> bool:
    return (await cluster.get(node, "/api/cluster"))[1]["nats_connected"] is False

"""Real hub processes (``python -m hub serve``) joined into a cluster by the local NATS server,
on one fresh PostgreSQL database; real ``ocpp`` 1.6 stations.

Needs PNC_HUB_TEST_NATS_URL and PNC_HUB_TEST_POSTGRES_URL (skipped otherwise). Every test gets
its own cluster name, so its subjects and presence bucket are its own; the bucket is deleted
afterwards.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import websockets

from hub.auth import create_token
from hub.db import create_engine, session_factory
from tests.harness import TestStation, running_charge_point
from tests.harness.process import HubProcess, cli, free_port

NATS_URL = os.environ.get("PNC_HUB_TEST_NATS_URL")


class Cluster:
    def __init__(self, database_url: str, nats_url: str, name: str, token: str) -> None:
        self.database_url = database_url
        self.nats_url = nats_url
        self.name = name
        self.token = token
        self.nodes: dict[str, HubProcess] = {}

    async def start(self, node_id: str, **settings: str) -> HubProcess:
        env = {"PNC_HUB_CLUSTER__NATS_URL": self.nats_url, "PNC_HUB_CLUSTER__NAME": self.name,
               "PNC_HUB_CLUSTER__NODE_ID": node_id}
        env.update({f"PNC_HUB_{k.upper()}": v for k, v in settings.items()})
        node = self.nodes.get(node_id) or HubProcess(self.database_url, free_port(), "--dev",
                                                     env=env)
        self.nodes[node_id] = node
        await node.start()
        return node

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def post(self, node_id: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        url = f"http://127.0.0.1:{self.nodes[node_id].port}{path}"
        async with aiohttp.ClientSession() as http, \
                http.post(url, json=body, headers=self.auth) as response:
            return response.status, await response.json()

    async def get(self, node_id: str, path: str) -> tuple[int, Any]:
        url = f"http://127.0.0.1:{self.nodes[node_id].port}{path}"
        async with aiohttp.ClientSession() as http, \
                http.get(url, headers=self.auth) as response:
            return response.status, await response.json()

    def stop(self) -> None:
        for node in self.nodes.values():
            if node.proc is not None and node.proc.poll() is None:
                try:
                    node.terminate()
                except subprocess.TimeoutExpired:  # a hub that hangs on shutdown is not left
                    node.kill()


@contextlib.asynccontextmanager
async def station(node: HubProcess, station_id: str) -> AsyncIterator[TestStation]:
    """A booted OCPP 1.6 station connected to ``node``."""
    async with websockets.connect(node.ws_url(station_id), subprotocols=["ocpp1.6"]) as ws:
        async with running_charge_point(TestStation(station_id, ws)) as cp:
            await cp.boot()
            yield cp


@pytest.fixture
def nats_url() -> str:
    if not NATS_URL:
        pytest.skip("PNC_HUB_TEST_NATS_URL is not set")
    return NATS_URL


@pytest.fixture
async def cluster(postgres_url: str, nats_url: str) -> AsyncIterator[Cluster]:
    upgrade = cli("db", "upgrade", "--database-url", postgres_url)
    assert upgrade.returncode == 0, upgrade.stderr
    engine = create_engine(postgres_url)
    token = await create_token(session_factory(engine), "cluster test admin")
    await engine.dispose()
    running = Cluster(postgres_url, nats_url, f"t{uuid.uuid4().hex[:12]}", token)
    try:
        yield running
    finally:
        running.stop()
        await delete_bucket(nats_url, f"{running.name}-presence")


async def delete_bucket(nats_url: str, bucket: str) -> None:
    import nats

    nc = await nats.connect(nats_url)
    try:
        with contextlib.suppress(Exception):
            await nc.jetstream().delete_key_value(bucket)
    finally:
        await nc.close()

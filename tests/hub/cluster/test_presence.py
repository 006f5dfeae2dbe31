"""Presence on the local NATS, two nodes in one process: a connect's entry is published without
waiting for JetStream's ack, so its revision comes back through the node's own watch; these
are the cases where the station's connection ends (or is taken over) around that."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import nats
import pytest
from nats.js.errors import KeyNotFoundError

from hub.cluster.presence import Holder, Presence
from hub.ocpp_server.registry import StationRegistry
from tests.harness import wait_for
from tests.hub.cluster.conftest import delete_bucket


@dataclass
class Socket:
    closed: list[int] = field(default_factory=list)

    async def close(self, code: int, message: bytes) -> None:
        self.closed.append(code)


@dataclass
class Session:
    """What presence reads of a station's session: its id, version, socket."""

    id: str
    ocpp_version: str = "ocpp1.6"
    ws: Socket = field(default_factory=Socket)
    ended: bool = False

    def connection_closed(self) -> None:
        self.ended = True


@dataclass
class Node:
    presence: Presence
    registry: StationRegistry
    heard: list[tuple[str, str]] = field(default_factory=list)

    def connect(self, station_id: str) -> Session:
        session = Session(station_id)
        self.registry.add(session)  # type: ignore[arg-type]
        return session


@pytest.fixture
async def nodes(nats_url: str) -> AsyncIterator[dict[str, Node]]:
    bucket = f"t{uuid.uuid4().hex[:12]}-presence"
    connections: list[Any] = []
    made: dict[str, Node] = {}
    try:
        for name in ("A", "B"):
            nc = await nats.connect(nats_url, no_echo=True)
            connections.append(nc)
            registry = StationRegistry()
            node = Node(Presence(name, bucket, registry), registry)

            async def connected(station_id: str, holder: Holder, node: Node = node) -> None:
                node.heard.append(("connect", station_id))

            async def disconnected(station_id: str, holder: Holder, node: Node = node) -> None:
                node.heard.append(("disconnect", station_id))

            node.presence._on_connect = connected
            node.presence._on_disconnect = disconnected
            await node.presence.open(nc)
            made[name] = node
        yield made
    finally:
        for node in made.values():
            await node.presence.close_watch()
        for nc in connections:
            await nc.close()
        await delete_bucket(nats_url, bucket)


async def in_bucket(node: Node, station_id: str) -> bool:
    assert node.presence._kv is not None
    try:
        entry = await node.presence._kv.get(station_id)
    except KeyNotFoundError:
        return False
    return bool(entry.value)


async def test_a_station_gone_before_its_entry_came_back_leaves_no_entry(
        nodes: dict[str, Node]) -> None:
    a, b = nodes["A"], nodes["B"]
    a.connect("CP-BRIEF")
    await a.presence.claim("CP-BRIEF")
    assert a.presence._held["CP-BRIEF"] == 0  # published, its revision not back yet
    a.registry._sessions.clear()
    # Released at once: the revision is not known yet, the entry goes when the watch brings it.
    assert await a.presence.release("CP-BRIEF") is True
    await wait_for(lambda: b.heard == [("connect", "CP-BRIEF"), ("disconnect", "CP-BRIEF")], 10)
    await wait_for(lambda: not_in_bucket(a, "CP-BRIEF"), 10)
    assert a.presence.holder("CP-BRIEF") is None and b.presence.holder("CP-BRIEF") is None


async def not_in_bucket(node: Node, station_id: str) -> bool:
    return not await in_bucket(node, station_id)


async def test_a_takeover_is_told_by_the_revisions_from_the_watch(
        nodes: dict[str, Node]) -> None:
    a, b = nodes["A"], nodes["B"]
    on_a = a.connect("CP-MOVE")
    await a.presence.claim("CP-MOVE")
    await wait_for(lambda: _holder_is(b, "CP-MOVE", "A"), 10)
    b.connect("CP-MOVE")
    await b.presence.claim("CP-MOVE")
    # A sees the newer entry: it closes its stale socket and records nothing.
    await wait_for(lambda: on_a.ended, 10)
    assert on_a.ws.closed == [1000] and "CP-MOVE" not in a.registry
    assert await a.presence.release("CP-MOVE") is False  # nothing of A's left to delete
    assert await in_bucket(b, "CP-MOVE")
    await wait_for(lambda: _holder_is(a, "CP-MOVE", "B"), 10)
    assert a.heard == [("connect", "CP-MOVE")] and b.presence.takeovers == 0


async def test_shutting_down_deletes_entries_not_back_from_the_watch(
        nodes: dict[str, Node]) -> None:
    a, b = nodes["A"], nodes["B"]
    for i in range(50):
        a.connect(f"CP-{i}")
        await a.presence.claim(f"CP-{i}")
    await a.presence.close()  # at once: most revisions are not known yet
    await wait_for(lambda: b.heard.count(("disconnect", "CP-49")) == 1, 10)
    for i in range(50):
        assert not await in_bucket(b, f"CP-{i}")


async def _holder_is(node: Node, station_id: str, holder: str) -> bool:
    found = node.presence.holder(station_id)
    return found is not None and found.node == holder

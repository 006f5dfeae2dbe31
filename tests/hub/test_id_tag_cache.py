"""The id tag cache: a blocked tag takes effect at once when the hub changes it, and within the
cache lifetime when another process does."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from ocpp.v16 import call

from hub.db.models import IdTag
from hub.id_tags import MISSING, IdTagCache
from hub.services.authorization import authorize
from tests.harness import RunningHub, connect_station, wait_for


def test_entries_expire_and_can_be_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr("hub.id_tags.time.monotonic", lambda: clock[0])
    cache = IdTagCache(ttl=5)
    cache.put("A", "row-a")
    cache.put("B", None)
    assert cache.get("A") == "row-a" and cache.get("B") is None
    clock[0] += 6
    assert cache.get("A") is MISSING
    cache.put("A", "row-a")
    cache.forget(["A"])
    assert cache.get("A") is MISSING
    assert IdTagCache(ttl=0).get("X") is MISSING


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_changes_reach_chargers(hub_factory) -> None:
    running: RunningHub = await hub_factory(dev=True, ocpp={"id_tag_cache_seconds": 60})
    async with running.hub.sessions() as session, session.begin():
        session.add(IdTag(id_tag="CARD", blocked=False))
    async with connect_station(running, "CP-CACHE") as cp:
        assert (await cp.call(call.Authorize(id_tag="CARD"))).id_tag_info["status"] == "Accepted"
        # Another process blocks the card: the cached answer stands until it expires...
        async with running.hub.engine.begin() as conn:
            await conn.execute(sa.update(IdTag).values(blocked=True))
        assert (await cp.call(call.Authorize(id_tag="CARD"))).id_tag_info["status"] == "Accepted"
        # ...while a change through the hub (or the entry expiring) applies at once.
        running.hub.id_tag_cache.forget(["CARD"])
        assert (await cp.call(call.Authorize(id_tag="CARD"))).id_tag_info["status"] == "Blocked"
    assert running.hub.id_tag_cache.hits >= 1


class _GatedEngine:
    """The hub's engine, with new connections held back until the test opens the gate (so
    that callers are concurrent for certain); the reads are real, and those of the id_tags
    table are counted."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.gate = asyncio.Event()
        self.reads = 0
        sa.event.listen(engine.sync_engine, "before_cursor_execute", self._count)

    def _count(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.reads += "FROM id_tags" in statement

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[Any]:
        await self.gate.wait()
        async with self.engine.connect() as conn:
            yield conn


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_concurrent_lookups_share_one_read(hub_factory) -> None:
    running: RunningHub = await hub_factory(dev=True, ocpp={"id_tag_cache_seconds": 60})
    hub = running.hub
    async with hub.sessions() as session, session.begin():
        session.add(IdTag(id_tag="FLEET", blocked=False))
    gated = _GatedEngine(hub.engine)
    hub.engine = gated  # type: ignore[assignment]
    try:
        burst = [asyncio.ensure_future(authorize(hub, f"CP-{i}", "FLEET")) for i in range(5)]
        await wait_for(lambda: "FLEET" in hub.id_tag_cache.reading, 5)
        gated.gate.set()
        assert [a.status for a in await asyncio.gather(*burst)] == ["Accepted"] * 5
        assert gated.reads == 1 and hub.id_tag_cache.reading == {}

        # The reader is cancelled while two others wait: one of them reads, both answer.
        hub.id_tag_cache.forget()
        gated.gate.clear()
        reader = asyncio.ensure_future(authorize(hub, "CP-R", "FLEET"))
        await wait_for(lambda: "FLEET" in hub.id_tag_cache.reading, 5)
        waiters = [asyncio.ensure_future(authorize(hub, f"CP-W{i}", "FLEET")) for i in range(2)]
        # Tasks start in order: both waiters wait on the reader's read before the reader
        # hears of its cancel.
        reader.cancel()
        gated.gate.set()
        assert [a.status for a in await asyncio.gather(*waiters)] == ["Accepted"] * 2
        assert reader.cancelled() and gated.reads == 2 and hub.id_tag_cache.reading == {}
    finally:
        hub.engine = gated.engine

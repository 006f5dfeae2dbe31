"""The id tag cache: a blocked tag takes effect at once when the hub changes it, and within the
cache lifetime when another process does."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from ocpp.v16 import call

from hub.db.models import IdTag
from hub.id_tags import MISSING, IdTagCache
from tests.hub.harness import RunningHub, connect_station


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

"""The OCPP message log: batched writes, and a full queue drops (and counts) instead of blocking."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hub.db import create_engine
from hub.db.group_commit import GroupCommitter
from hub.db.migrate import upgrade_database
from hub.db.models import OcppMessage
from hub.ocpp_server.message_log import MessageLog
from tests.harness import wait_for


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_batches_drops_and_metrics(database_url: str) -> None:
    engine = create_engine(database_url)
    await upgrade_database(engine)
    committer = GroupCommitter(engine)
    committer.start()
    log = MessageLog(committer, max_queue=10, batch_size=4, flush_interval=0.05,
                     skip_actions=["Heartbeat"])
    for i in range(15):  # not started yet: the queue fills up and the rest is dropped
        log.record("CP", "in", 2, f"id{i}", "Authorize", f'[2,"id{i}","Authorize",{{}}]')
    log.record("CP", "in", 2, "hb", "Heartbeat", "[2,\"hb\",\"Heartbeat\",{}]")
    assert (log.size, log.dropped, log.enqueued) == (10, 5, 10)
    log.start()
    await wait_for(lambda: log.written == 10)
    await log.stop()
    await committer.stop()
    metrics = log.metrics(window_minutes=5)
    assert metrics["written"] == 10 and metrics["dropped"] == 5 and metrics["size"] == 0
    assert metrics["flushes"] >= 3  # batch size 4
    async with engine.connect() as conn:
        ids = (await conn.execute(sa.select(OcppMessage.unique_id).order_by(
            OcppMessage.id))).scalars().all()
    assert ids == [f"id{i}" for i in range(10)]
    await engine.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_stop_writes_rows_still_being_collected(database_url: str) -> None:
    engine = create_engine(database_url)
    await upgrade_database(engine)
    committer = GroupCommitter(engine)
    committer.start()
    # A long flush interval: the drain task is still collecting when stop() cancels it.
    log = MessageLog(committer, batch_size=100, flush_interval=30)
    log.start()
    for i in range(7):
        log.record("CP", "in", 2, f"id{i}", "Authorize", "[]")
    # The drain task holds the first row and waits for a batch (the rest wait in the queue);
    # none is written yet.
    await wait_for(lambda: log.size == 6)
    assert log.written == 0
    await log.stop()
    await committer.stop()
    assert log.written == 7 and log.dropped == 0
    async with engine.connect() as conn:
        count = await conn.scalar(sa.select(sa.func.count()).select_from(OcppMessage))
    assert count == 7
    await engine.dispose()

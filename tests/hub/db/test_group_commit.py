"""Group commit: many units share a commit, a failing unit fails alone, results come after the
commit, and transaction ids are never reused; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.base import utcnow
from hub.db.group_commit import GroupCommitter, Write, write_later
from hub.db.models import Connector, IdTag, LatestReading, Station, Transaction


async def test_units_share_commits_and_fail_alone(engine) -> None:
    committer = GroupCommitter(engine, max_batch=100)
    committer.start()

    def add_tag(tag: str):
        async def work(conn: AsyncConnection) -> str:
            await conn.execute(sa.insert(IdTag).values(id_tag=tag, blocked=False,
                                                       created_at=utcnow(), updated_at=utcnow()))
            return tag
        return work

    tags = [f"T{i}" for i in range(50)]
    # A duplicate key fails; everything else in its batch must still commit.
    units = [committer.run(add_tag(t)) for t in tags] + [committer.run(add_tag("T7"))]
    results = await asyncio.gather(*units, return_exceptions=True)
    await committer.stop()

    assert results[:50] == tags
    assert isinstance(results[50], sa.exc.IntegrityError)
    assert committer.batches < 51  # commits were shared
    assert committer.failures == 1
    async with engine.connect() as conn:
        stored = (await conn.execute(sa.select(IdTag.id_tag))).scalars().all()
    assert sorted(stored) == sorted(tags)


async def test_writes_upsert_keeps_the_newest(engine) -> None:
    committer = GroupCommitter(engine)
    committer.start()
    from datetime import timedelta

    t0 = utcnow()

    def reading(value: str, at) -> Write:
        return Write(LatestReading.__table__, [{
            "station_id": "S", "connector_id": 1, "measurand": "SoC", "phase": "",
            "location": "", "value": value, "numeric_value": float(value), "unit": "Percent",
            "timestamp": at, "transaction_id": None}],
            upsert_key=("station_id", "connector_id", "measurand", "phase", "location"),
            newer_than="timestamp")

    await committer.run(writes=[reading("50", t0)])
    await committer.run(writes=[reading("40", t0 - timedelta(minutes=1))])  # late, older
    await committer.run(writes=[reading("60", t0 + timedelta(minutes=1))])
    await committer.stop()
    async with engine.connect() as conn:
        values = (await conn.execute(sa.select(LatestReading.value))).scalars().all()
    assert values == ["60"]


async def test_upsert_rows_get_the_defaults_of_columns_they_leave_out(engine) -> None:
    """Upserts of a batch are written as plain rows (SQLite: straight to the driver), except
    where a left-out column has a default only SQLAlchemy fills in (a connector's availability
    and updated_at): those rows keep going through SQLAlchemy, both shapes in one batch."""
    async with engine.begin() as conn:
        await conn.execute(sa.insert(Station).values(id="S", created_at=utcnow()))
    committer = GroupCommitter(engine)
    committer.start()
    key = ("station_id", "connector_id")
    full = {"station_id": "S", "connector_id": 1, "status": "Charging",
            "availability": "Inoperative", "updated_at": utcnow()}
    short = {"station_id": "S", "connector_id": 2, "status": "Available"}
    await committer.run(writes=[Write(Connector.__table__, [full, short], upsert_key=key)])
    await committer.stop()
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(
            Connector.connector_id, Connector.status, Connector.availability,
            Connector.updated_at.is_not(None)).order_by(Connector.connector_id))).all()
    assert list(map(tuple, rows)) == [(1, "Charging", "Inoperative", True),
                                      (2, "Available", "Operative", True)]


async def test_rows_handed_over_inside_a_unit_are_written_with_the_batch(engine) -> None:
    committer = GroupCommitter(engine, max_batch=100)
    committer.start()
    seen_inside: list[int] = []

    def tag_row(tag: str) -> Write:
        return Write(IdTag.__table__, [{"id_tag": tag, "blocked": False,
                                        "created_at": utcnow(), "updated_at": utcnow()}])

    def unit(tag: str):
        async def work(conn: AsyncConnection) -> str:
            await write_later(conn, [tag_row(tag)])
            # Deferred to the end of the batch: not in the table while the units run.
            seen_inside.append((await conn.execute(
                sa.select(sa.func.count()).select_from(IdTag))).scalar_one())
            return tag
        return work

    tags = [f"D{i}" for i in range(20)]
    results = await asyncio.gather(*(committer.run(unit(t)) for t in tags))
    # A duplicate among the handed-over rows fails its batch; retried alone, only it fails.
    dup = await asyncio.gather(committer.run(unit("D3")), committer.run(unit("D99")),
                               return_exceptions=True)
    await committer.stop()
    assert results == tags and seen_inside[0] == 0
    assert isinstance(dup[0], sa.exc.IntegrityError) and dup[1] == "D99"
    async with engine.connect() as conn:
        stored = (await conn.execute(sa.select(IdTag.id_tag))).scalars().all()
        # Outside a group commit the rows are written at once.
        await write_later(conn, [tag_row("NOW")])
        assert (await conn.execute(sa.select(IdTag.id_tag).where(
            IdTag.id_tag == "NOW"))).scalar() == "NOW"
    assert sorted(stored) == sorted([*tags, "D99"])


async def test_a_unit_that_lost_a_race_to_another_writer_runs_again(engine) -> None:
    """Two writers (PostgreSQL): two batches check-then-insert the same key at once. The
    later commit fails on the unique key; run again, that unit sees the row and answers as
    the repeat it is, instead of failing."""
    writers = 2 if engine.dialect.name == "postgresql" else 1
    committer = GroupCommitter(engine, max_batch=1, writers=writers)
    committer.start()
    # One writer (SQLite) runs the units one after the other: the second simply sees the row.
    checks: list[str | None] = []
    both_checked = asyncio.Event()

    async def insert_once(conn: AsyncConnection) -> str:
        seen = (await conn.execute(sa.select(IdTag.id_tag).where(
            IdTag.id_tag == "RACE"))).scalar()
        checks.append(seen)
        if len(checks) == writers:
            both_checked.set()
        if len(checks) <= writers:  # the first run of each unit, not the loser's second one
            await both_checked.wait()  # both batches are past their check before either inserts
        if seen is not None:
            return "repeat"
        await conn.execute(sa.insert(IdTag).values(id_tag="RACE", blocked=False,
                                                   created_at=utcnow(), updated_at=utcnow()))
        return "inserted"

    results = await asyncio.gather(committer.run(insert_once), committer.run(insert_once),
                                   return_exceptions=True)
    await committer.stop()
    assert sorted(results) == ["inserted", "repeat"], results
    assert committer.failures == 0


async def test_stop_commits_the_batch_in_flight_and_returns(engine) -> None:
    """stop() while a writer is inside a commit (at hub shutdown: the files sweep, a last-seen
    flush, a station's disconnect). It used to cancel the writer there: the cancelled driver
    call invalidated the connection, the cleanup then raised PendingRollbackError in place of
    the CancelledError, the writer took it for a failed batch and waited for more work, and
    stop() (and the hub's shutdown) waited forever."""
    committer = GroupCommitter(engine)
    committer.start()
    inside = asyncio.Event()

    async def long_unit(conn: AsyncConnection) -> str:
        inside.set()
        for _ in range(200):  # still in the driver when stop() comes
            await conn.execute(sa.select(IdTag.id_tag))
        await conn.execute(sa.insert(IdTag).values(id_tag="LAST", blocked=False,
                                                   created_at=utcnow(), updated_at=utcnow()))
        return "committed"

    unit = asyncio.ensure_future(committer.run(long_unit))
    await inside.wait()
    stopping = asyncio.ensure_future(committer.stop())
    await asyncio.sleep(0)
    # Work offered while it stops is refused, not queued behind the writers' end.
    with pytest.raises(RuntimeError, match="stopped"):
        await committer.run(long_unit)
    async with asyncio.timeout(60):  # a bound for the failure, not a window: it returns at once
        await stopping
    assert await unit == "committed"
    async with engine.connect() as conn:
        assert (await conn.execute(sa.select(IdTag.id_tag))).scalars().all() == ["LAST"]


async def test_a_cancelled_writer_ends_even_when_a_unit_swallows_the_cancel(engine) -> None:
    """A unit (or a driver) that turns the writer's cancellation into another error must not
    keep the writer alive: whoever cancelled it (the end of the event loop cancels every task,
    as asyncio.run does) would wait for it forever."""
    committer = GroupCommitter(engine)
    committer.start()
    inside = asyncio.Event()

    async def stubborn_unit(conn: AsyncConnection) -> None:
        inside.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise RuntimeError("the cancel became another error") from None

    unit = asyncio.ensure_future(committer.run(stubborn_unit))
    await inside.wait()
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in others:
        task.cancel()
    async with asyncio.timeout(60):  # a bound for the failure: the writer ends at once
        await asyncio.gather(*others, return_exceptions=True)
    assert unit.cancelled()


async def test_transaction_ids_are_never_reused(engine) -> None:
    async with engine.begin() as conn:
        await conn.execute(sa.insert(Station).values(id="S1", registration_status="Accepted",
                                                     connected=False, created_at=utcnow()))

    async def insert() -> int:
        async with engine.begin() as conn:
            return (await conn.execute(sa.insert(Transaction).values(
                station_id="S1", connector_id=1, start_timestamp=utcnow(), status="active",
                created_at=utcnow(), updated_at=utcnow()).returning(Transaction.id))).scalar_one()

    first = await insert()
    second = await insert()
    async with engine.begin() as conn:
        await conn.execute(sa.delete(Transaction).where(Transaction.id == second))
    third = await insert()
    assert first < second < third


@pytest.mark.parametrize("stop_first", [True, False])
async def test_connector_pointer_is_right_whatever_the_order_in_a_batch(engine,
                                                                        stop_first) -> None:
    """The current-transaction pointer goes out with the batch (an upsert on start, a
    conditional clear on stop): one batch holding the stop of transaction 1 and the start of
    transaction 2 on the same connector leaves it at 2 in either unit order; a unit that
    creates and ends a transaction (a 2.0.1 offline one) leaves no pointer."""
    from hub.db.models import Connector
    from hub.services.transactions import set_current_transaction

    async with engine.begin() as conn:
        await conn.execute(sa.insert(Station).values(id="PTR", created_at=utcnow()))
    committer = GroupCommitter(engine)
    committer.start()
    await committer.run(lambda conn: set_current_transaction(conn, "PTR", 1, 1))

    async def stop_1(conn: AsyncConnection) -> None:
        await set_current_transaction(conn, "PTR", 1, None, only_if=1)

    async def start_2(conn: AsyncConnection) -> None:
        await set_current_transaction(conn, "PTR", 1, 2)

    async def offline_3(conn: AsyncConnection) -> None:
        await set_current_transaction(conn, "PTR", 2, 3)
        await set_current_transaction(conn, "PTR", 2, None, only_if=3)

    units = [stop_1, start_2] if stop_first else [start_2, stop_1]
    before = committer.batches
    # Queued together before the writer runs again: one batch.
    await asyncio.gather(*(committer.run(u) for u in [*units, offline_3]))
    assert committer.batches == before + 1
    await committer.stop()
    async with engine.connect() as conn:
        pointers = dict((await conn.execute(sa.select(
            Connector.connector_id, Connector.current_transaction_id).where(
            Connector.station_id == "PTR"))).all())
    assert pointers == {1: 2, 2: None}

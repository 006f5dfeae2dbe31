"""A unit of work declares its events; the group committer runs their in-transaction hooks in the
unit's transaction and publishes them after the commit, and a failed unit publishes nothing.
On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.db.base import utcnow
from hub.db.group_commit import GroupCommitter, emit
from hub.db.models import IdTag
from hub.events import Event, EventBus


@dataclass(frozen=True, kw_only=True)
class TagAdded(Event):
    station_id: str = ""
    tag: str


async def _add_tag(conn: AsyncConnection, tag: str) -> None:
    await conn.execute(sa.insert(IdTag).values(id_tag=tag, blocked=False, created_at=utcnow(),
                                               updated_at=utcnow()))


async def _stored(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set((await conn.execute(sa.select(IdTag.id_tag))).scalars())


class Observer:
    """An outbox-like in-transaction hook and an after-commit subscriber on ``bus``."""

    def __init__(self, bus: EventBus, engine: AsyncEngine) -> None:
        self.bus, self.engine = bus, engine
        self.in_transaction: list[tuple[str, bool, int]] = []
        self.published: list[str] = []  # in the order the bus published
        self.seen: dict[str, set[str]] = {}  # what each subscriber found committed
        bus.on_commit(TagAdded, self.hook)
        bus.subscribe(TagAdded, self.subscriber)

    async def hook(self, conn: AsyncConnection, event: TagAdded) -> None:
        # The unit's row is visible here: the same transaction.
        seen = (await conn.execute(sa.select(sa.func.count()).where(
            IdTag.id_tag == event.tag))).scalar_one()
        self.in_transaction.append((event.tag, seen == 1, self.bus.published))
        await _add_tag(conn, f"H-{event.tag}")

    async def subscriber(self, event: TagAdded) -> None:
        self.published.append(event.tag)  # before awaiting: subscribers run concurrently
        self.seen[event.tag] = await _stored(self.engine)


def _started(engine: AsyncEngine, **options: int) -> tuple[EventBus, Observer, GroupCommitter]:
    bus = EventBus()
    observer = Observer(bus, engine)
    committer = GroupCommitter(engine, bus=bus, **options)
    committer.start()
    return bus, observer, committer


async def test_declared_events_run_hooks_in_the_transaction_and_publish_after_commit(
        engine) -> None:
    bus, observer, committer = _started(engine)

    async def work(conn: AsyncConnection) -> str:
        await _add_tag(conn, "U1")
        await emit(conn, TagAdded(tag="U1"))
        await _add_tag(conn, "U2")
        return "done"

    assert await committer.run(work, events=[TagAdded(tag="U2")]) == "done"
    await bus.drain()
    await committer.stop()

    # Both hooks ran before anything was published, each seeing its unit's row.
    assert observer.in_transaction == [("U1", True, 0), ("U2", True, 0)]
    # Published in order, after the commit: the subscriber reads every row, hooks' included.
    everything = {"U1", "U2", "H-U1", "H-U2"}
    assert observer.published == ["U1", "U2"]
    assert observer.seen == {"U1": everything, "U2": everything}
    assert bus.published == 2


async def test_a_failed_unit_publishes_nothing_and_its_hook_rows_roll_back(engine) -> None:
    bus, observer, committer = _started(engine, max_batch=100)

    def unit(tag: str, fail: bool):
        async def work(conn: AsyncConnection) -> str:
            await _add_tag(conn, tag)
            await emit(conn, TagAdded(tag=tag))
            if fail:
                raise ValueError(f"{tag} fails after its event")
            return tag
        return work

    # Queued together so that they share a batch: the batch fails, the good units are re-run
    # alone and publish once; the bad one publishes nothing.
    results = await asyncio.gather(
        committer.run(unit("G1", False)), committer.run(unit("F1", True)),
        committer.run(unit("G2", False)), return_exceptions=True)
    await bus.drain()
    await committer.stop()

    assert results[0] == "G1" and results[2] == "G2"
    assert isinstance(results[1], ValueError)
    assert observer.published == ["G1", "G2"]
    assert bus.published == 2
    assert await _stored(engine) == {"G1", "H-G1", "G2", "H-G2"}


async def test_an_own_transaction_publishes_after_commit_and_nothing_when_it_raises(
        engine) -> None:
    bus, observer, committer = _started(engine)

    async with committer.transaction() as conn:
        await _add_tag(conn, "A1")
        await emit(conn, TagAdded(tag="A1"))
    with pytest.raises(ValueError):
        async with committer.transaction() as conn:
            await _add_tag(conn, "B1")
            await emit(conn, TagAdded(tag="B1"))
            raise ValueError("the API answers 409")
    await bus.drain()
    await committer.stop()

    assert observer.in_transaction == [("A1", True, 0), ("B1", True, 1)]
    assert observer.published == ["A1"]
    assert observer.seen == {"A1": {"A1", "H-A1"}}
    assert await _stored(engine) == {"A1", "H-A1"}


async def test_an_event_outside_a_unit_of_work_is_refused(engine) -> None:
    async with engine.begin() as conn:
        with pytest.raises(RuntimeError, match="unit of work"):
            await emit(conn, TagAdded(tag="X"))


def test_no_module_runs_hooks_or_publishes_by_hand() -> None:
    """The hand-written pair (hooks inside the unit, publish after it) is gone: only the
    committer publishes, so no fact can reach subscribers without its outbox rows."""
    root = Path(__file__).resolve().parents[3]
    assert (root / "hub" / "db" / "group_commit.py").is_file()  # it reads the source tree
    offenders = [
        str(path.relative_to(root)) for package in ("hub", "pnc", "oicp", "sites_api", "certs")
        for path in (root / package).rglob("*.py")
        if path.relative_to(root).as_posix() != "hub/db/group_commit.py"
        and ("bus.publish(" in (text := path.read_text()) or "run_in_transaction" in text)
    ]
    assert offenders == []

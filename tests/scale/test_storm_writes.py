"""Writes a reconnect storm causes are shared: stations coming back together reschedule their
Plug&Charge jobs with one group-committed UPDATE (pnc/jobs.py), and what each station's connect
and boot record is still its own."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub.context import HUB
from hub.db.base import utcnow
from hub.db.models import Station
from pnc.models import WAITING, PncJob
from tests.harness import connect_station, wait_for
from tests.pnc.harness import start_pnc_hub

JOBS = PncJob.__table__


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_stations_back_together_reschedule_their_jobs(database_url: str,
                                                            tmp_path: Path) -> None:
    running = await start_pnc_hub(database_url, tmp_path)
    hub = running.app[HUB]
    later = utcnow() + timedelta(days=1)
    leased = utcnow() + timedelta(hours=1)  # the job runner leaves leased jobs alone
    try:
        async with hub.engine.begin() as conn:
            await conn.execute(sa.insert(JOBS), [
                {"kind": kind, "key": f"test-{station}-{kind}", "station_id": station,
                 "state": WAITING, "step": step, "next_run_at": later, "lease_until": leased,
                 "payload": {}, "attempts": 0, "created_at": utcnow(), "updated_at": utcnow()}
                for station, kind, step in [("CP-BACK-1", "sign", "await_csr"),
                                            ("CP-BACK-2", "install_root", "install"),
                                            ("CP-AWAY", "sign", "await_csr"),
                                            ("CP-BACK-3", "renew", "signing")]])
        ids = ["CP-BACK-1", "CP-BACK-2", "CP-BACK-3", "CP-NEW"]
        async with contextlib.AsyncExitStack() as stack:
            stations = await asyncio.gather(*(stack.enter_async_context(
                connect_station(running, sid)) for sid in ids))
            await asyncio.gather(*(s.boot(vendor=f"V-{s.id}") for s in stations))

            async def due() -> dict[str, object]:
                async with hub.engine.connect() as conn:
                    rows = (await conn.execute(sa.select(JOBS.c.station_id,
                                                         JOBS.c.next_run_at))).all()
                return {row.station_id: row.next_run_at for row in rows}

            moved = await wait_for(lambda: _moved(due, later), timeout=10)
            assert moved["CP-BACK-1"] < later and moved["CP-BACK-2"] < later
            # A station still away, and a renewal waiting for its signature, keep their time.
            assert moved["CP-AWAY"] == later and moved["CP-BACK-3"] == later
            async with hub.engine.connect() as conn:
                rows = (await conn.execute(sa.select(
                    Station.id, Station.connected, Station.vendor).where(Station.id.in_(ids))
                )).all()
            assert {(r.id, r.connected, r.vendor) for r in rows} == {
                (sid, True, f"V-{sid}") for sid in ids}
    finally:
        await running.stop()


async def _moved(due, later):  # noqa: ANN001, ANN202 (test helper)
    times = await due()
    if times["CP-BACK-1"] < later and times["CP-BACK-2"] < later:
        return times
    return None


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_group_commit_writer_survives_a_cancellation_from_below(database_url: str) -> None:
    """Every charger call that records a fact waits for the committer's writer: a unit that
    raises CancelledError (as a driver's future may) fails its batch, not the writer."""
    from hub.db import create_engine
    from hub.db.group_commit import GroupCommitter
    from hub.db.migrate import upgrade_database

    engine = create_engine(database_url)
    await upgrade_database(engine)
    committer = GroupCommitter(engine)
    committer.start()
    try:
        async def interrupted(conn: object) -> None:
            raise asyncio.CancelledError()

        async def fine(conn: object) -> str:
            return "committed"

        with pytest.raises(RuntimeError, match="interrupted"):
            await asyncio.wait_for(committer.run(interrupted), 10)
        assert await asyncio.wait_for(committer.run(fine), 10) == "committed"
    finally:
        await committer.stop()
        await engine.dispose()

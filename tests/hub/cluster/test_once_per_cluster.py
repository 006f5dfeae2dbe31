"""Work that runs once per cluster, on one PostgreSQL database shared by several engines (as
several hub nodes share it): advisory-lock leases with failover, and Plug&Charge jobs that two
hubs racing for never run twice."""

from __future__ import annotations

import asyncio
import collections
from typing import Any

import sqlalchemy as sa

from hub.cluster.leases import AdvisoryLeases
from hub.db import create_engine
from hub.db.base import utcnow
from pnc import PNC
from pnc.job_kinds import Outcome
from pnc.models import DONE, PENDING, PncJob
from tests.harness import start_hub


async def test_a_lease_has_one_holder_and_fails_over(postgres_url: str) -> None:
    engines = [create_engine(postgres_url) for _ in range(3)]
    nodes = [AdvisoryLeases(engine, check_seconds=0.1) for engine in engines]
    try:
        first = [await node.lead("oicp-sweep") for node in nodes]
        assert first == [True, False, False]
        assert await nodes[0].lead("oicp-sweep")  # held: still True
        # Another name is independent of the first.
        assert await nodes[1].lead("load-site:7") and not await nodes[2].lead("load-site:7")

        # The holder's connection goes (its node died): the next node to ask takes over.
        await nodes[0].close()
        assert await nodes[2].lead("oicp-sweep")
        assert not await nodes[1].lead("oicp-sweep")
        assert not await nodes[0].lead("oicp-sweep")

        # A lease connection killed under a node: it notices and gives its leases up.
        async with engines[0].connect() as admin:
            await admin.execute(sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                "AND pid <> pg_backend_pid() AND objid = :low"),
                {"low": _low_word("load-site:7")})
            await admin.commit()
        await asyncio.sleep(0.2)  # past check_seconds, so that the next call checks
        assert not await nodes[1].lead("load-site:7")  # its connection broke: gives up
        assert "load-site:7" not in nodes[1].held
        assert await nodes[2].lead("load-site:7")  # free again: the next node takes it
    finally:
        for node in nodes:
            await node.close()
        for engine in engines:
            await engine.dispose()


def _low_word(name: str) -> int:
    from hub.cluster.leases import lease_key

    return lease_key(name) & 0xFFFFFFFF


async def test_plug_and_charge_jobs_run_once_across_two_hubs(postgres_url: str) -> None:
    hubs = [await start_hub(postgres_url, dev=True) for _ in range(2)]
    runs: collections.Counter[int] = collections.Counter()

    async def install(job: Any) -> Outcome:
        runs[job.id] += 1
        await asyncio.sleep(0.01)  # a command round trip: the other hub tries meanwhile
        return Outcome(DONE)

    try:
        job_runners = [running.app[PNC].pnc.jobs for running in hubs]
        for runner in job_runners:
            runner.kinds.handlers["install_root"] = install
        now = utcnow()
        async with hubs[0].hub.engine.begin() as conn:
            await conn.execute(sa.insert(PncJob), [
                {"kind": "install_root", "key": f"cluster-test-{i}", "station_id": f"CP-{i}",
                 "state": PENDING, "step": "install", "attempts": 0, "next_run_at": now,
                 "payload": {}, "created_at": now, "updated_at": now} for i in range(40)])
            ids = (await conn.execute(sa.select(PncJob.id))).scalars().all()
        # Both hubs go for every job at once, as two nodes' pollers would.
        await asyncio.gather(*(runner.run_now(job_id) for job_id in ids
                               for runner in job_runners))
        async with hubs[1].hub.engine.connect() as conn:
            states = (await conn.execute(sa.select(PncJob.state))).scalars().all()
    finally:
        for running in reversed(hubs):
            await running.stop()
    assert sorted(runs) == sorted(ids)
    assert set(runs.values()) == {1}, {k: v for k, v in runs.items() if v != 1}
    assert states == [DONE] * len(ids)

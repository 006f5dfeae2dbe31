"""A job the hub is running holds a lease (so that one node runs it). A hub that stops
cancels its running jobs and hands their leases back: the next hub runs them at once, not
once the lease (command timeout x 3 + 60 s) ran out. A database gone at shutdown leaves the
leases to run out and does not hold the shutdown up."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from hub.db.base import utcnow
from pnc.jobs import Jobs
from pnc.models import PncJob
from pnc.settings import PncSettings
from tests.harness import wait_for
from tests.pnc.chargers import Wallet, connect
from tests.pnc.doubles import Opcp
from tests.pnc.harness import add_station, start_pnc_hub

JOBS = PncJob.__table__


async def _sign_job(database_url: str) -> Any:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(sa.select(JOBS).where(JOBS.c.kind == "sign"))).one()
    finally:
        await engine.dispose()


async def test_a_stopped_hub_hands_back_the_lease_of_a_running_job(
        database_url: str, tmp_path: Path, opcp: Opcp) -> None:
    settings = {**opcp.hub_settings(), "v2g_signer": "est"}
    opcp.est_answer.clear()  # the CA hangs: the sign job is mid-run, holding its lease
    first = await start_pnc_hub(database_url, tmp_path, pnc=settings)
    try:
        await add_station(first, "CP-LEASE", ["DE*PNC*E0LEASE"])
        wallet = Wallet("CP-LEASE", "DE*PNC*E0LEASE")
        async with connect(first, "CP-LEASE", wallet) as cp:
            await cp.boot()
            assert (await cp.sign_v2g())[0] == "Accepted"
            await wait_for(lambda: opcp.est_requests == 1, timeout=15)
            assert (await _sign_job(database_url)).lease_until is not None
    finally:
        await first.stop()
    job = await _sign_job(database_url)
    assert job.lease_until is None
    assert (job.state, job.step, job.attempts) == ("pending", "sign", 0), job.last_error

    opcp.est_answer.set()
    second = await start_pnc_hub(database_url, tmp_path, pnc=settings)
    try:
        async with connect(second, "CP-LEASE", wallet) as cp:
            await cp.boot()
            # Well below the lease: a lease left behind would fail this.
            await wait_for(lambda: "V2GCertificate" in wallet.chains, timeout=15)
        assert opcp.est_requests == 2
    finally:
        await second.stop()


async def test_a_database_gone_at_shutdown_leaves_the_leases_to_run_out(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'hub.db'}")
    jobs = Jobs(SimpleNamespace(settings=PncSettings(),  # type: ignore[arg-type]
                                hub=SimpleNamespace(engine=engine)))
    jobs._leases[1] = utcnow()  # as if job 1 had been cancelled mid-run
    with caplog.at_level(logging.WARNING, logger="pnc.jobs"):
        await jobs.stop()
    await engine.dispose()
    assert "could not hand back the leases of 1 Plug&Charge job(s)" in caplog.text

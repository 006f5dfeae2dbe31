"""SIGKILL of the hub right after a StartTransaction was answered loses nothing."""

from __future__ import annotations

import contextlib

import sqlalchemy as sa
import websockets
from ocpp.v16 import call

from hub.db import create_engine
from hub.db.models import MeterValue, Transaction
from tests.harness import TestStation, now, running_charge_point
from tests.harness.process import HubProcess, free_port


@contextlib.asynccontextmanager
async def station(url: str, station_id: str):
    async with websockets.connect(url, subprotocols=["ocpp1.6"]) as ws:
        async with running_charge_point(TestStation(station_id, ws)) as cp:
            yield cp


async def test_sigkill_after_answers_loses_nothing(database_url: str) -> None:
    hub = HubProcess(database_url, free_port(), "--dev")
    if not database_url.startswith("sqlite"):
        from tests.harness.process import cli

        assert cli("db", "upgrade", "--database-url", database_url).returncode == 0
    await hub.start()
    try:
        async with station(hub.ws_url("CP-KILL"), "CP-KILL") as cp:
            await cp.boot()
            started = await cp.call(call.StartTransaction(
                connector_id=1, id_tag="T1", meter_start=100, timestamp=now()), suppress=False)
            await cp.call(call.MeterValues(connector_id=1, transaction_id=started.transaction_id,
                                           meter_value=[{"timestamp": now(), "sampledValue": [
                                               {"value": "150"}]}]), suppress=False)
            hub.kill()

        await hub.start()
        async with station(hub.ws_url("CP-KILL"), "CP-KILL") as cp:
            stop = await cp.call(call.StopTransaction(
                meter_stop=300, timestamp=now(), transaction_id=started.transaction_id,
                id_tag="T1"), suppress=False)
            assert stop.id_tag_info is not None
            after = await cp.call(call.StartTransaction(
                connector_id=1, id_tag="T1", meter_start=300, timestamp=now()), suppress=False)
            assert after.transaction_id > started.transaction_id
    finally:
        hub.terminate()

    engine = create_engine(database_url)
    async with engine.connect() as conn:
        first = (await conn.execute(sa.select(Transaction.__table__).where(
            Transaction.id == started.transaction_id))).one()
        assert (first.meter_start, first.meter_stop, first.status) == (100, 300, "completed")
        samples = (await conn.execute(sa.select(MeterValue.value).where(
            MeterValue.transaction_id == started.transaction_id))).scalars().all()
        assert samples == ["150"]
    await engine.dispose()

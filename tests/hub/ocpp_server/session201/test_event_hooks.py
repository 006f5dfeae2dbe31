"""A feature's in-transaction hooks (``hub.bus.on_commit``) run for every 2.0.1 TransactionEvent
that makes a transaction fact, as they do for 1.6 StartTransaction / MeterValues /
StopTransaction: inside the transaction that stores the fact, so that a failing hook (an outbox
row that cannot be written) means the fact is not stored and the station is told so."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from ocpp.exceptions import InternalError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.models import MeterValue
from hub.db.models201 import TransactionEventRecord
from hub.events import TransactionEnded, TransactionStarted, TransactionUpdated
from tests.harness import RunningHub, connect_station201
from tests.hub.ocpp_server.session201.test_transaction_flow import GOOD, energy, event

EVSE = {"id": 1, "connector_id": 1}


class Hooks:
    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []
        self.fail_updates = False

    async def __call__(self, conn: AsyncConnection, event: Any) -> None:
        assert conn.in_transaction()
        if isinstance(event, TransactionUpdated) and self.fail_updates:
            raise RuntimeError("the outbox row cannot be written")
        figure = {TransactionStarted: "meter_start", TransactionUpdated: "energy_wh",
                  TransactionEnded: "meter_stop"}[type(event)]
        self.seen.append((type(event).__name__, getattr(event, figure)))


async def stored(running: RunningHub, seq_no: int) -> tuple[bool, list[str]]:
    async with running.hub.engine.connect() as conn:
        record = (await conn.execute(sa.select(TransactionEventRecord.seq_no).where(
            TransactionEventRecord.station_id == "CP-HOOK",
            TransactionEventRecord.seq_no == seq_no))).first()
        values = (await conn.execute(sa.select(MeterValue.value).where(
            MeterValue.station_id == "CP-HOOK").order_by(MeterValue.id))).scalars().all()
    return record is not None, list(values)


async def test_transaction_hooks_run_inside_the_event_transaction(hub: RunningHub) -> None:
    hooks = Hooks()
    for kind in (TransactionStarted, TransactionUpdated, TransactionEnded):
        hub.hub.bus.on_commit(kind, hooks)

    async with connect_station201(hub, "CP-HOOK") as cp:
        await cp.boot()
        await cp.call(event("Started", 0, 1, tx="TX-H", trigger_reason="RemoteStart",
                            evse=EVSE, id_token=GOOD,
                            meter_value=energy(1000, 1, context="Transaction.Begin")),
                      suppress=False)
        await cp.call(event("Updated", 1, 2, tx="TX-H", charging_state="Charging",
                            meter_value=energy(1200, 2)), suppress=False)
        assert hooks.seen == [("TransactionStarted", 1000), ("TransactionUpdated", 1200)]

        # The hook fails: the event is not stored and the station gets an error, so it
        # sends the event again later (OCPP 2.0.1 E13: retried until answered).
        hooks.fail_updates = True
        with pytest.raises(InternalError):
            await cp.call(event("Updated", 2, 3, tx="TX-H", meter_value=energy(1300, 3)),
                          suppress=False)
        assert await stored(hub, 2) == (False, ["1000", "1200"])

        hooks.fail_updates = False
        await cp.call(event("Updated", 2, 3, tx="TX-H", meter_value=energy(1300, 3)),
                      suppress=False)
        assert await stored(hub, 2) == (True, ["1000", "1200", "1300"])

        await cp.call(event("Ended", 3, 4, tx="TX-H", stopped_reason="Remote",
                            trigger_reason="RemoteStop",
                            meter_value=energy(1450, 4, context="Transaction.End")),
                      suppress=False)
    assert hooks.seen == [("TransactionStarted", 1000), ("TransactionUpdated", 1200),
                          ("TransactionUpdated", 1300), ("TransactionEnded", 1450)]

"""The station's session keeps its 2.0.1 transactions' state: an Updated event reads nothing
from the database, and after a reconnect the state is rebuilt from it (repeats stay repeats)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import event as sa_event

from hub.db.models import MeterValue, Transaction
from hub.db.models201 import Transaction201
from tests.harness import RunningHub, connect_station201
from tests.hub.ocpp_server.session201.test_transaction_flow import GOOD, add_tags, energy, event


class Reads:
    """SELECTs that touch the transaction tables, as the database sees them."""

    def __init__(self, running: RunningHub) -> None:
        self.engine = running.hub.engine.sync_engine
        self.statements: list[str] = []

    def __enter__(self) -> Reads:
        sa_event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc: object) -> None:
        sa_event.remove(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement: str, *args: object) -> None:  # noqa: ANN001
        text = statement.lstrip().upper()
        if text.startswith("SELECT") and "TRANSACTION" in text:
            self.statements.append(statement)


async def test_an_updated_event_reads_nothing(hub: RunningHub) -> None:
    await add_tags(hub)
    async with connect_station201(hub, "CP-READS") as cp:
        await cp.boot()
        await cp.call(event("Started", 0, 1, tx="TX-R", trigger_reason="Authorized",
                            id_token=GOOD, evse={"id": 1, "connector_id": 1},
                            charging_state="Charging",
                            meter_value=energy(1000, 1, context="Transaction.Begin")),
                      suppress=False)
        with Reads(hub) as reads:
            for seq in (1, 2, 3):
                await cp.call(event("Updated", seq, 1 + seq, tx="TX-R",
                                    meter_value=energy(1000 + 100 * seq, 1 + seq, extra=True)),
                              suppress=False)
        assert reads.statements == []
    async with hub.hub.sessions() as session:
        detail = (await session.execute(sa.select(Transaction201).where(
            Transaction201.ocpp_transaction_id == "TX-R"))).scalar_one()
        assert (detail.events, detail.last_seq_no, detail.last_energy_wh) == (4, 3, 1300)


async def test_after_a_reconnect_the_state_is_rebuilt_from_the_database(
        hub: RunningHub) -> None:
    await add_tags(hub)
    started = event("Started", 0, 1, tx="TX-RC", trigger_reason="Authorized", id_token=GOOD,
                    evse={"id": 1, "connector_id": 1}, charging_state="Charging",
                    meter_value=energy(500, 1, context="Transaction.Begin"))
    first_update = event("Updated", 1, 2, tx="TX-RC", meter_value=energy(600, 2))
    async with connect_station201(hub, "CP-RC") as cp:
        await cp.boot()
        answer = await cp.call(started, suppress=False)
        await cp.call(first_update, suppress=False)
    async with connect_station201(hub, "CP-RC") as cp:
        # The station lost our answers and repeats both: repeats change nothing.
        assert (await cp.call(started, suppress=False)).id_token_info == answer.id_token_info
        await cp.call(first_update, suppress=False)
        await cp.call(event("Updated", 2, 3, tx="TX-RC", meter_value=energy(700, 3)),
                      suppress=False)
        await cp.call(event("Ended", 3, 4, tx="TX-RC", stopped_reason="Local",
                            trigger_reason="StopAuthorized", id_token=GOOD,
                            meter_value=energy(800, 4, context="Transaction.End")),
                      suppress=False)
    async with hub.hub.sessions() as session:
        tx = (await session.execute(sa.select(Transaction).where(
            Transaction.ocpp_transaction_id == "TX-RC"))).scalar_one()
        detail = await session.get(Transaction201, tx.id)
        samples = (await session.execute(sa.select(MeterValue.value).where(
            MeterValue.transaction_id == tx.id).order_by(MeterValue.timestamp))).scalars().all()
    assert (tx.status, tx.meter_start, tx.meter_stop, tx.stop_id_tag) == (
        "completed", 500, 800, "GOOD")
    assert (detail.events, detail.last_seq_no, detail.started_seen, detail.ended_seen) == (
        4, 3, True, True)
    assert samples == ["500", "600", "700", "800"]

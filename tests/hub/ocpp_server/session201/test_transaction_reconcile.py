"""GetTransactionStatus in use: a 2.0.1 station reconnects while the hub holds one of its
transactions open. Nothing queued and not ongoing: the hub ends it (one TransactionEnded, the
CDR's trigger). Messages queued: the hub waits for the station's own Ended and ends nothing
itself. Ongoing: left open. Real `ocpp` 2.0.1 station, real database."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from ocpp.v201 import call, call_result

from hub.db.models import Transaction
from hub.events import TransactionEnded
from tests.harness import RunningHub, connect_station201, now, wait_for

SID = "CP-RECON"


def event(event_type: str, seq_no: int, wh: float, tx: str) -> call.TransactionEvent:
    return call.TransactionEvent(
        event_type=event_type, timestamp=now(), trigger_reason="Authorized", seq_no=seq_no,
        transaction_info={"transaction_id": tx}, evse={"id": 1, "connector_id": 1},
        meter_value=[{"timestamp": now(), "sampled_value": [
            {"value": wh, "measurand": "Energy.Active.Import.Register"}]}])


async def start_and_drop(hub: RunningHub, tx: str) -> None:
    """A transaction starts, then the connection drops (the station keeps charging or not)."""
    async with connect_station201(hub, SID) as cp:
        await cp.boot()
        await cp.call(event("Started", 0, 1000, tx), suppress=False)
        await cp.call(event("Updated", 1, 3000, tx), suppress=False)
    await wait_for(lambda: SID not in hub.hub.stations)


async def transaction(hub: RunningHub, tx: str) -> Transaction:
    async with hub.hub.sessions() as session:
        return (await session.execute(sa.select(Transaction).where(
            Transaction.ocpp_transaction_id == tx))).scalar_one()


def ended_events(hub: RunningHub) -> list[TransactionEnded]:
    seen: list[TransactionEnded] = []

    async def record(event: TransactionEnded) -> None:
        seen.append(event)

    hub.hub.bus.subscribe(TransactionEnded, record)
    return seen


async def test_a_lost_transaction_is_ended_by_the_hub(hub: RunningHub) -> None:
    ended = ended_events(hub)
    await start_and_drop(hub, "tx-lost")
    async with connect_station201(hub, SID) as cp:
        cp.answers["GetTransactionStatus"] = call_result.GetTransactionStatus(
            messages_in_queue=False, ongoing_indicator=False)
        await wait_for(lambda: [r for r in cp.received if r.action == "GetTransactionStatus"])
        assert cp.received[0].payload == {"transaction_id": "tx-lost"}

        async def closed() -> bool:
            return (await transaction(hub, "tx-lost")).status == "completed"

        await wait_for(closed)
    tx = await transaction(hub, "tx-lost")
    assert (tx.meter_start, tx.meter_stop, tx.stop_reason) == (1000, 3000, "Other")
    await wait_for(lambda: ended)
    assert [(e.transaction_id, e.reason) for e in ended] == [(tx.id, "Other")]


async def test_queued_messages_end_it_before_the_hub_would(hub: RunningHub) -> None:
    ended = ended_events(hub)
    await start_and_drop(hub, "tx-queued")
    async with connect_station201(hub, SID) as cp:
        asked: list[int] = []
        queued: list[call.TransactionEvent] = []

        def status(**kw: Any) -> Any:
            asked.append(1)
            if len(asked) == 1:
                # First answer: two events still queued; they go out right after.
                queued.extend([event("Updated", 2, 5000, "tx-queued"),
                               event("Ended", 3, 7000, "tx-queued")])
                return call_result.GetTransactionStatus(messages_in_queue=True,
                                                        ongoing_indicator=False)
            return call_result.GetTransactionStatus(messages_in_queue=False,
                                                    ongoing_indicator=False)

        cp.answers["GetTransactionStatus"] = status
        await wait_for(lambda: asked)
        for message in queued:
            await cp.call(message, suppress=False)
        await wait_for(lambda: len(asked) >= 2)
    tx = await transaction(hub, "tx-queued")
    assert (tx.status, tx.meter_stop) == ("completed", 7000)
    await wait_for(lambda: ended)
    assert len(ended) == 1 and ended[0].meter_stop == 7000


async def test_an_ongoing_transaction_stays_open(hub: RunningHub) -> None:
    await start_and_drop(hub, "tx-on")
    async with connect_station201(hub, SID) as cp:
        await wait_for(lambda: [r for r in cp.received if r.action == "GetTransactionStatus"])
        # The harness answers ongoing, nothing queued. A boot asks again.
        await cp.boot()
        await wait_for(lambda: len([r for r in cp.received
                                    if r.action == "GetTransactionStatus"]) >= 2)
    assert (await transaction(hub, "tx-on")).status == "active"


"""GDPR, the hub's own part: erasing an id token replaces it by one pseudonym in transactions
(kept), reservations, transaction events and the message log, removes its id tag, and only an
admin may do it. A real `ocpp` 2.0.1 station charges with the token first."""

from __future__ import annotations

import sqlalchemy as sa
from ocpp.v201 import call

from hub.auth import create_token
from hub.db.models import IdTag, OcppMessage, Transaction
from hub.db.models201 import TransactionEventRecord
from hub.db.models_blocks import IdTokenErasure
from hub.services import report_parts
from tests.harness import RunningHub, connect_station201, now, wait_for
from tests.hub.management.conftest import Api

TOKEN = "04E1A5E0"


async def logged(hub: RunningHub, text: str) -> int:
    async with hub.hub.sessions() as session:
        return (await session.execute(sa.select(sa.func.count()).where(
            OcppMessage.payload.contains(text)))).scalar_one()


async def test_erasure_pseudonymises_and_keeps_transactions(hub: RunningHub,
                                                            api: Api) -> None:
    async with hub.hub.sessions() as session, session.begin():
        session.add_all([IdTag(id_tag=TOKEN), IdTag(id_tag="CHILD", parent_id_tag=TOKEN)])
    async with connect_station201(hub, "CP-GDPR") as cp:
        await cp.boot()
        for seq_no, event_type in enumerate(("Started", "Ended")):
            await cp.call(call.TransactionEvent(
                event_type=event_type, timestamp=now(), trigger_reason="Authorized",
                seq_no=seq_no, transaction_info={"transaction_id": "tx-gdpr"},
                evse={"id": 1, "connector_id": 1},
                id_token={"id_token": TOKEN, "type": "ISO14443"},
                meter_value=[{"timestamp": now(), "sampled_value": [
                    {"value": 1000 + seq_no * 5000,
                     "measurand": "Energy.Active.Import.Register"}]}]), suppress=False)
    await wait_for(lambda: logged(hub, TOKEN))
    for request_id, text in ((1, f"token {TOKEN}: 2 sessions"), (2, "token OTHER: none")):
        await report_parts.record_part(hub.hub, "CP-GDPR", report_parts.CUSTOMER_INFORMATION,
                                       request_id, 0, False, None, text)

    commands_only = await create_token(hub.hub.sessions, "ops", ["commands"])
    denied = await api.call("POST", "/api/idTokens/erase", json={"id_token": TOKEN},
                            auth=False, headers={"Authorization": f"Bearer {commands_only}"})
    assert denied.status == 403
    await api.error("POST", "/api/idTokens/erase", 400, json={})

    body = await api.ok("POST", "/api/idTokens/erase", json={"id_token": TOKEN})
    pseudonym = body["pseudonym"]
    assert pseudonym.startswith("erased-") and TOKEN not in pseudonym
    assert (body["transactions"], body["transaction_events"], body["id_tag_removed"]) == (
        1, 2, True)
    assert body["messages"] >= 2

    async with hub.hub.sessions() as session:
        tx = (await session.execute(sa.select(Transaction).where(
            Transaction.station_id == "CP-GDPR"))).scalar_one()
        events = (await session.execute(sa.select(TransactionEventRecord.id_token))).scalars()
        tags = {t.id_tag: t.parent_id_tag for t in
                (await session.execute(sa.select(IdTag))).scalars()}
        erasures = (await session.execute(sa.select(IdTokenErasure))).scalars().all()
    assert (tx.id_tag, tx.status, tx.meter_start, tx.meter_stop) == (
        pseudonym, "completed", 1000, 6000)
    assert set(events) == {pseudonym}
    assert tags == {"CHILD": pseudonym}
    assert [(e.pseudonym, e.transactions) for e in erasures] == [(pseudonym, 1)]
    assert await logged(hub, TOKEN) == 0
    assert await report_parts.reports(hub.hub, "CP-GDPR",
                                      report_parts.CUSTOMER_INFORMATION) == [2]
    assert await logged(hub, pseudonym) >= 2

"""A 2.0.1 EV's NotifyEVChargingNeeds: Accepted on a site with a running transaction, then a
TxProfile within the EV's maximum and the site's limit; elsewhere Rejected, as before."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

import aiohttp
import sqlalchemy as sa
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as call_result201

from hub.db.base import utcnow
from hub.db.models import IdTag
from hub.db.models201 import ChargingReport
from tests.harness import RunningHub, connect_station201, wait_for

NEEDS = {"requested_energy_transfer": "AC_three_phase",
         "ac_charging_parameters": {"energy_amount": 20000, "ev_min_current": 6,
                                    "ev_max_current": 10, "ev_max_voltage": 400}}


async def test_ev_charging_needs_get_a_schedule_within_the_limit(hub_factory: Any) -> None:
    running: RunningHub = await hub_factory(dev=True, load={"min_interval": 0})
    limits: list[float] = []

    def on_profile(**kw: Any) -> Any:
        limits.append(kw["charging_profile"]["charging_schedule"][0][
            "charging_schedule_period"][0]["limit"])
        return call_result201.SetChargingProfile(status="Accepted")

    async with contextlib.AsyncExitStack() as stack, aiohttp.ClientSession(
            headers=running.auth) as http:
        ev = await stack.enter_async_context(connect_station201(running, "EV-1"))
        elsewhere = await stack.enter_async_context(connect_station201(running, "EV-2"))
        for cp in (ev, elsewhere):
            await cp.boot()
        ev.answers["SetChargingProfile"] = on_profile
        async with running.hub.sessions() as session, session.begin():
            session.add(IdTag(id_tag="TAG", created_at=utcnow()))
        base = running.http_url
        async with http.put(f"{base}/organisations/acme", json={"name": "Acme"}) as resp:
            assert resp.status == 200
        body = {"name": "EV", "organization_id": "acme", "fuse_tree": [{
            "type": "fuse", "parameters": {"name": "Main", "limit": 32, "connectors": [
                {"connector_id": 1, "charging_station_id": "EV-1"}]}, "children": []}]}
        async with http.post(f"{base}/sites", json=body) as resp:
            assert resp.status == 201, await resp.text()

        # Not charging yet: no schedule to give.
        answer = await ev.call(call201.NotifyEVChargingNeeds(charging_needs=NEEDS, evse_id=1))
        assert answer.status == "Rejected"
        await ev.call(call201.TransactionEvent(
            event_type="Started", timestamp=datetime.now(UTC).isoformat(), seq_no=0,
            trigger_reason="Authorized", transaction_info={"transaction_id": "TX-EV"},
            evse={"id": 1, "connector_id": 1}, id_token={"id_token": "TAG", "type": "ISO14443"}))
        await wait_for(lambda: limits == [32.0], timeout=15)

        answer = await ev.call(call201.NotifyEVChargingNeeds(charging_needs=NEEDS, evse_id=1))
        assert answer.status == "Accepted"
        await wait_for(lambda: limits == [32.0, 10.0], timeout=15)  # the EV's maximum

        # A station on no site is answered as before.
        answer = await elsewhere.call(call201.NotifyEVChargingNeeds(charging_needs=NEEDS,
                                                                    evse_id=1))
        assert answer.status == "Rejected" and answer.status_info["reason_code"] == "NoSchedule"
        async with running.hub.engine.connect() as conn:
            stored = (await conn.execute(sa.select(sa.func.count()).select_from(
                ChargingReport).where(ChargingReport.kind == "NotifyEVChargingNeeds"))).scalar()
        assert stored == 3

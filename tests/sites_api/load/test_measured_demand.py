"""Measured currents in the plan: a car that draws less than its limit leaves the rest to the
others after the settle period, and gets its share back once it draws up to its limit."""

from __future__ import annotations

import contextlib
from typing import Any

import aiohttp
from ocpp.v16 import call, call_result

from hub.db.base import utcnow
from hub.db.models import IdTag
from sites_api.load.measurements import Measured, connector_current, next_demand
from tests.harness import RunningHub, connect_station, now, wait_for


def sample(measurand: str, value: float, phase: str | None = None, unit: str | None = None,
           location: str | None = None) -> dict[str, Any]:
    return {"measurand": measurand, "value": str(value), "phase": phase, "unit": unit,
            "location": location}


def test_current_per_phase_or_from_power() -> None:
    assert connector_current([sample("Current.Import", 10, "L1"),
                              sample("Current.Import", 11, "L2")], (1, 2, 3)) == (10, 11, None)
    # Unphased current on a single-phase outlet wired to L2.
    assert connector_current([sample("Current.Import", 9)], (2,)) == (None, 9, None)
    # 11 kW over three phases at 230 V: 15.9 A each; the inlet side is not the car's.
    amps = connector_current([sample("Power.Active.Import", 11, unit="kW"),
                              sample("Power.Active.Import", 99999, location="Inlet")], (1, 2, 3))
    assert amps is not None and all(abs(a - 11000 / 690) < 1e-6 for a in amps)
    assert connector_current([sample("Energy.Active.Import.Register", 5)], (1, 2, 3)) is None
    assert connector_current([sample("Current.Import", "x")], (1, 2, 3)) is None


def test_demand_is_judged_only_after_the_settle_period() -> None:
    at = Measured((10.0, 10.0, 10.0), at=100.0, received=utcnow())
    kw = {"settle": 30.0, "margin": 2.0}
    assert next_demand(None, at, 16.0, 80.0, (1, 2, 3), **kw) is None  # too early
    assert next_demand(7.0, at, 16.0, 80.0, (1, 2, 3), **kw) == 7.0  # the last one holds
    assert next_demand(None, at, 16.0, 60.0, (1, 2, 3), **kw) == 12.0
    at_limit = Measured((11.5, 11.0, 11.2), at=100.0, received=utcnow())
    assert next_demand(12.0, at_limit, 12.0, 60.0, (1, 2, 3), **kw) is None


async def test_current_a_car_does_not_draw_goes_to_the_other(hub_factory: Any) -> None:
    running: RunningHub = await hub_factory(dev=True, load={
        "min_interval": 0, "replan_interval": 0, "settle": 1, "demand_margin": 2})
    held: dict[str, float] = {}

    def answer(station: str) -> Any:
        def on_profile(**kw: Any) -> Any:
            held[station] = kw["cs_charging_profiles"]["charging_schedule"][
                "charging_schedule_period"][0]["limit"]
            return call_result.SetChargingProfile(status="Accepted")
        return on_profile

    async with contextlib.AsyncExitStack() as stack, aiohttp.ClientSession(
            headers=running.auth) as http:
        cps = {}
        for station in ("DM-A", "DM-B"):
            cp = cps[station] = await stack.enter_async_context(connect_station(running, station))
            await cp.boot()
            cp.answers["SetChargingProfile"] = answer(station)
        async with running.hub.sessions() as session, session.begin():
            session.add(IdTag(id_tag="TAG", created_at=utcnow()))
        async with http.put(f"{running.http_url}/organisations/acme", json={"name": "A"}) as r:
            assert r.status == 200
        body = {"name": "Demand", "organization_id": "acme", "fuse_tree": [{
            "type": "fuse", "parameters": {"name": "Main", "limit": 32, "connectors": [
                {"connector_id": 1, "charging_station_id": s} for s in cps]},
            "children": []}]}
        async with http.post(f"{running.http_url}/sites", json=body) as resp:
            assert resp.status == 201, await resp.text()
        tx = {}
        for station, cp in cps.items():
            tx[station] = (await cp.call(call.StartTransaction(
                connector_id=1, id_tag="TAG", meter_start=0, timestamp=now()))).transaction_id
        await wait_for(lambda: held == {"DM-A": 16.0, "DM-B": 16.0}, timeout=15)

        async def draws(station: str, amps: float) -> None:
            await cps[station].call(call.MeterValues(
                connector_id=1, transaction_id=tx[station], meter_value=[{
                    "timestamp": now(), "sampled_value": [
                        {"value": str(amps), "measurand": "Current.Import", "phase": p,
                         "unit": "A"} for p in ("L1", "L2", "L3")]}]))

        async def settled(expected: dict[str, float], station: str, amps: float) -> bool:
            await draws(station, amps)  # a car keeps reporting while it charges
            return held == expected

        # A's car takes only 10 A: after the settle period it gets 12, B the other 20.
        await wait_for(lambda: settled({"DM-A": 12.0, "DM-B": 20.0}, "DM-A", 10), timeout=20,
                       interval=0.2)
        # Now it draws up to its limit: it wants more, and they share equally again.
        await wait_for(lambda: settled({"DM-A": 16.0, "DM-B": 16.0}, "DM-A", 12), timeout=20,
                       interval=0.2)

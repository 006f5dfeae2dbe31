"""OCPP 2.0.1 NotifyEVChargingNeeds answered by the load manager (instead of the core's Rejected).

For an EVSE on a site's fuse tree with a running transaction the hub answers ``Accepted`` and
then sends the EV a schedule within its limit: the EV's maximum (AC ``evMaxCurrent`` per phase;
DC ``evMaxPower`` as current per phase at 230 V over the connector's phases) caps what the
planner gives it, and the connector's TxProfile is sent again whatever the hysteresis. Anything
else (no site, no transaction) is answered as before: ``Rejected``, reason ``NoSchedule``. The
message is stored as sent either way (``record_charging_report``).
"""

from __future__ import annotations

import math
from typing import Any

import sqlalchemy as sa

from hub.db.models import Transaction
from hub.feature_api import Hub, StationSession
from hub.services.station_reports import record_charging_report
from sites_api.load.measurements import NOMINAL_VOLTAGE
from sites_api.load.runner import LoadManager

ACTION = "NotifyEVChargingNeeds"
REJECTED = {"status": "Rejected", "statusInfo": {"reasonCode": "NoSchedule"}}


def ev_max_current(needs: dict[str, Any], phases: int) -> float | None:
    """The most the EV takes, in A per phase (None when it does not say)."""
    ac = needs.get("acChargingParameters")
    if isinstance(ac, dict) and isinstance(ac.get("evMaxCurrent"), int | float):
        return float(ac["evMaxCurrent"])
    dc = needs.get("dcChargingParameters")
    if isinstance(dc, dict) and isinstance(dc.get("evMaxPower"), int | float):
        return float(dc["evMaxPower"]) / (NOMINAL_VOLTAGE * max(phases, 1))
    return None


def notify_ev_charging_needs(manager: LoadManager) -> Any:
    async def handler(session: StationSession, payload: dict[str, Any]) -> dict[str, Any]:
        hub: Hub = manager.hub
        evse_id = payload["evseId"]
        await record_charging_report(hub, session.id, ACTION, payload, evse_id=evse_id)
        key = (session.id, evse_id)
        site_ids = await manager.sites_of(session.id)
        states = [await manager.site_state(site_id) for site_id in sorted(site_ids)]
        state = next((s for s in states if key in s.compiled.connectors), None)
        if state is None or not await _charging(hub, key):
            return REJECTED
        phases = len(state.compiled.connectors[key].phases)
        wanted = ev_max_current(payload.get("chargingNeeds") or {}, phases)
        if wanted is not None and math.isfinite(wanted) and wanted > 0:
            manager.ev_needs[key] = wanted
        else:
            manager.ev_needs.pop(key, None)
        manager.resend(key)
        manager.touch(state.site_id)
        return {"status": "Accepted"}

    return handler


async def _charging(hub: Hub, key: tuple[str, int]) -> bool:
    async with hub.sessions() as db:
        found = await db.execute(sa.select(Transaction.id).where(
            Transaction.station_id == key[0], Transaction.connector_id == key[1],
            Transaction.status == "active").limit(1))
        return found.first() is not None


def register(hub: Any, manager: Any) -> None:
    hub.handle_action("2.0.1", ACTION, notify_ev_charging_needs(manager))

"""What a 2.0.1 station holds besides its device model and charging profiles: variable
monitors, display messages and network connection profiles.

Kept from two sources: the hub's own commands the station accepted (command effects on
SetVariableMonitoring, ClearVariableMonitoring, SetDisplayMessage, ClearDisplayMessage,
SetNetworkProfile) and the station's reports (NotifyMonitoringReport, NotifyDisplayMessages).
Everything is stored in the OCPP (camelCase) form.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from ocpp.charge_point import snake_to_camel_case
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.context import Hub
from hub.db.base import utcnow
from hub.db.models_blocks import StationDisplayMessage, StationMonitor, StationNetworkProfile
from hub.db.upsert import upsert
from hub.services import report_parts

VERSIONS = ("2.0.1",)
HUB, REPORT = "hub", "report"


def camel(data: Any) -> Any:
    return snake_to_camel_case(data) if isinstance(data, dict | list) else data


def _monitor_rows(station_id: str, reported: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """MonitoringDataType items (component, variable, variableMonitoring[]) -> one row each."""
    rows = []
    for item in reported:
        for monitor in item.get("variableMonitoring") or []:
            rows.append({"station_id": station_id, "monitor_id": monitor["id"],
                         "monitor": {"component": item["component"],
                                     "variable": item["variable"], **monitor},
                         "source": REPORT, "updated_at": utcnow()})
    return rows


async def record_monitoring_report(hub: Hub, station_id: str, request_id: int, seq_no: int,
                                   tbc: bool, generated_at: datetime,
                                   monitor: list[dict[str, Any]]) -> None:
    rows = _monitor_rows(station_id, monitor)

    async def work(conn: AsyncConnection) -> None:
        await report_parts.store_part(conn, station_id, report_parts.MONITORING, request_id,
                                      seq_no, tbc, generated_at, monitor)
        await upsert(conn, StationMonitor.__table__, rows, key=["station_id", "monitor_id"])

    await hub.committer.run(work)


async def record_display_messages(hub: Hub, station_id: str, request_id: int, tbc: bool,
                                  message_info: list[dict[str, Any]]) -> None:
    rows = [{"station_id": station_id, "message_id": m["id"], "message": m, "source": REPORT,
             "updated_at": utcnow()} for m in message_info]

    async def work(conn: AsyncConnection) -> None:
        await report_parts.store_part(conn, station_id, report_parts.DISPLAY_MESSAGES,
                                      request_id, None, tbc, None, message_info)
        await upsert(conn, StationDisplayMessage.__table__, rows,
                     key=["station_id", "message_id"])

    await hub.committer.run(work)


async def held_monitors(hub: Hub, station_id: str) -> list[dict[str, Any]]:
    return await _held(hub, StationMonitor, station_id, "monitor_id", "monitor")


async def held_display_messages(hub: Hub, station_id: str) -> list[dict[str, Any]]:
    return await _held(hub, StationDisplayMessage, station_id, "message_id", "message")


async def network_profiles(hub: Hub, station_id: str) -> list[dict[str, Any]]:
    async with hub.sessions() as session:
        rows = (await session.execute(sa.select(StationNetworkProfile).where(
            StationNetworkProfile.station_id == station_id).order_by(
            StationNetworkProfile.configuration_slot))).scalars().all()
    return [{"configuration_slot": r.configuration_slot,
             "connection_data": r.connection_data, "updated_at": r.updated_at} for r in rows]


async def _held(hub: Hub, model: Any, station_id: str, key: str, body: str
                ) -> list[dict[str, Any]]:
    async with hub.sessions() as session:
        rows = (await session.execute(sa.select(model).where(
            model.station_id == station_id).order_by(getattr(model, key)))).scalars().all()
    return [{"id": getattr(r, key), body: getattr(r, body), "source": r.source,
             "updated_at": r.updated_at} for r in rows]


def register_holding_effects(hub: Hub) -> None:
    effects = HoldingEffects(hub)
    for action, effect in (
        ("SetVariableMonitoring", effects.monitors_set),
        ("ClearVariableMonitoring", effects.monitors_cleared),
        ("SetDisplayMessage", effects.display_message_set),
        ("ClearDisplayMessage", effects.display_message_cleared),
        ("SetNetworkProfile", effects.network_profile_set),
    ):
        for version in VERSIONS:
            hub.commands.add_effect(action, effect, version=version)


class HoldingEffects:
    """Command effects: what the station accepted is what it now holds."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    async def monitors_set(self, station_id: str, request: Any, response: Any) -> None:
        rows = []
        for asked, result in zip(camel(request.set_monitoring_data),
                                 camel(response.set_monitoring_result), strict=False):
            if result.get("status") != "Accepted" or result.get("id") is None:
                continue
            monitor = {k: v for k, v in asked.items() if k != "id"}
            rows.append({"station_id": station_id, "monitor_id": result["id"],
                         "monitor": {**monitor, "id": result["id"]}, "source": HUB,
                         "updated_at": utcnow()})

        async def work(conn: AsyncConnection) -> None:
            await upsert(conn, StationMonitor.__table__, rows, key=["station_id", "monitor_id"])

        if rows:
            await self.hub.committer.run(work)

    async def monitors_cleared(self, station_id: str, request: Any, response: Any) -> None:
        gone = [r["id"] for r in camel(response.clear_monitoring_result)
                if r.get("status") in ("Accepted", "NotFound")]
        await self._delete(StationMonitor, station_id, StationMonitor.monitor_id, gone)

    async def display_message_set(self, station_id: str, request: Any, response: Any) -> None:
        if response.status != "Accepted":
            return
        message = camel(request.message)
        row = {"station_id": station_id, "message_id": message["id"], "message": message,
               "source": HUB, "updated_at": utcnow()}

        async def work(conn: AsyncConnection) -> None:
            await upsert(conn, StationDisplayMessage.__table__, [row],
                         key=["station_id", "message_id"])

        await self.hub.committer.run(work)

    async def display_message_cleared(self, station_id: str, request: Any,
                                      response: Any) -> None:
        if response.status in ("Accepted", "Unknown"):
            await self._delete(StationDisplayMessage, station_id,
                               StationDisplayMessage.message_id, [request.id])

    async def network_profile_set(self, station_id: str, request: Any, response: Any) -> None:
        if response.status != "Accepted":
            return
        row = {"station_id": station_id, "configuration_slot": request.configuration_slot,
               "connection_data": camel(request.connection_data), "updated_at": utcnow()}

        async def work(conn: AsyncConnection) -> None:
            await upsert(conn, StationNetworkProfile.__table__, [row],
                         key=["station_id", "configuration_slot"])

        await self.hub.committer.run(work)

    async def _delete(self, model: Any, station_id: str, column: Any, ids: list[int]) -> None:
        async def work(conn: AsyncConnection) -> None:
            await conn.execute(sa.delete(model).where(model.station_id == station_id,
                                                      column.in_(ids)))

        if ids:
            await self.hub.committer.run(work)

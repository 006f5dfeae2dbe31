"""The OCPP 2.0.1 device model: what a station reports about its components and variables.

Stored per station in ``device_variables`` (one row per variable attribute) from NotifyReport
(the inventory, after GetBaseReport / GetReport), from accepted GetVariables results and from
accepted SetVariables requests.

1.6 surfaces speak of configuration *keys*. For 2.0.1 stations a key is either a 1.6 key name
with a standard 2.0.1 counterpart (``HeartbeatInterval`` -> OCPPCommCtrlr.HeartbeatInterval, see
``KEY_MAP``) or a device model reference written

    Component[:instance][@evse[:connector]].Variable[:instance]

e.g. ``OCPPCommCtrlr.HeartbeatInterval``, ``OCPPCommCtrlr.MessageAttempts:TransactionEvent``,
``EVSE@1.AvailabilityState``. The inventory lists keys in that second form.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from ocpp.charge_point import camel_to_snake_case
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.context import Hub
from hub.db.base import utcnow
from hub.db.models201 import DeviceReport, DeviceVariable
from hub.db.upsert import upsert

# 1.6 configuration keys (core profile, local auth list, security and ISO 15118 PnC
# extensions) -> their standard 2.0.1 variable.
KEY_MAP: dict[str, str] = {
    "HeartbeatInterval": "OCPPCommCtrlr.HeartbeatInterval",
    "WebSocketPingInterval": "OCPPCommCtrlr.WebSocketPingInterval",
    "ResetRetries": "OCPPCommCtrlr.ResetRetries",
    "TransactionMessageAttempts": "OCPPCommCtrlr.MessageAttempts:TransactionEvent",
    "TransactionMessageRetryInterval": "OCPPCommCtrlr.MessageAttemptInterval:TransactionEvent",
    "ConnectionTimeOut": "TxCtrlr.EVConnectionTimeOut",
    "StopTransactionOnInvalidId": "TxCtrlr.StopTxOnInvalidId",
    "StopTransactionOnEVSideDisconnect": "TxCtrlr.StopTxOnEVSideDisconnect",
    "MeterValueSampleInterval": "SampledDataCtrlr.TxUpdatedInterval",
    "MeterValuesSampledData": "SampledDataCtrlr.TxUpdatedMeasurands",
    "StopTxnSampledData": "SampledDataCtrlr.TxEndedMeasurands",
    "ClockAlignedDataInterval": "AlignedDataCtrlr.Interval",
    "MeterValuesAlignedData": "AlignedDataCtrlr.Measurands",
    "StopTxnAlignedData": "AlignedDataCtrlr.TxEndedMeasurands",
    "LocalPreAuthorize": "AuthCtrlr.LocalPreAuthorize",
    "LocalAuthorizeOffline": "AuthCtrlr.LocalAuthorizeOffline",
    "AllowOfflineTxForUnknownId": "AuthCtrlr.OfflineTxForUnknownIdEnabled",
    "AuthorizeRemoteTxRequests": "AuthCtrlr.AuthorizeRemoteStart",
    "AuthorizationCacheEnabled": "AuthCacheCtrlr.Enabled",
    "LocalAuthListEnabled": "LocalAuthListCtrlr.Enabled",
    "SendLocalListMaxLength": "LocalAuthListCtrlr.ItemsPerMessage",
    "SecurityProfile": "SecurityCtrlr.SecurityProfile",
    "CpoName": "SecurityCtrlr.OrganizationName",
    "AuthorizationKey": "SecurityCtrlr.BasicAuthPassword",
    "CertificateSignedMaxChainSize": "SecurityCtrlr.MaxCertificateChainSize",
    "ISO15118PnCEnabled": "ISO15118Ctrlr.PnCEnabled",
    "CentralContractValidationAllowed": "ISO15118Ctrlr.CentralContractValidationAllowed",
    "ContractValidationOffline": "ISO15118Ctrlr.ContractValidationOffline",
}


class InvalidKey(ValueError):
    pass


@dataclass(frozen=True)
class VariableRef:
    component: str
    variable: str
    component_instance: str = ""
    evse_id: int = 0
    connector_id: int = 0
    variable_instance: str = ""

    def key(self) -> str:
        comp = self.component + (f":{self.component_instance}" if self.component_instance else "")
        if self.evse_id:
            comp += f"@{self.evse_id}" + (f":{self.connector_id}" if self.connector_id else "")
        var = self.variable + (f":{self.variable_instance}" if self.variable_instance else "")
        return f"{comp}.{var}"

    def ocpp(self) -> dict[str, Any]:
        """{component, variable} as the ``ocpp`` dataclasses take them (snake_case)."""
        component: dict[str, Any] = {"name": self.component}
        if self.component_instance:
            component["instance"] = self.component_instance
        if self.evse_id:
            component["evse"] = {"id": self.evse_id}
            if self.connector_id:
                component["evse"]["connector_id"] = self.connector_id
        variable: dict[str, Any] = {"name": self.variable}
        if self.variable_instance:
            variable["instance"] = self.variable_instance
        return {"component": component, "variable": variable}

    @classmethod
    def of(cls, component: dict[str, Any], variable: dict[str, Any]) -> VariableRef:
        """From snake_case ComponentType and VariableType dicts."""
        evse = component.get("evse") or {}
        return cls(component=component["name"], variable=variable["name"],
                   component_instance=component.get("instance") or "",
                   evse_id=evse.get("id") or 0, connector_id=evse.get("connector_id") or 0,
                   variable_instance=variable.get("instance") or "")


def parse_key(key: str) -> VariableRef:
    """A 1.6 key name from KEY_MAP or a ``Component[...].Variable[...]`` reference."""
    text = KEY_MAP.get(key, key)
    comp_part, dot, var_part = text.partition(".")
    if not dot or not comp_part or not var_part:
        raise InvalidKey(f"{key!r} is neither a known 1.6 key nor Component.Variable")
    comp_part, _, evse_part = comp_part.partition("@")
    component, _, component_instance = comp_part.partition(":")
    variable, _, variable_instance = var_part.partition(":")
    evse_id = connector_id = 0
    if evse_part:
        evse_text, _, connector_text = evse_part.partition(":")
        try:
            evse_id = int(evse_text)
            connector_id = int(connector_text) if connector_text else 0
        except ValueError:
            raise InvalidKey(f"{key!r}: EVSE and connector must be numbers") from None
    if not component or not variable:
        raise InvalidKey(f"{key!r}: component and variable names are required")
    return VariableRef(component, variable, component_instance, evse_id, connector_id,
                       variable_instance)


def _row(station_id: str, ref: VariableRef, attribute_type: str | None,
         source: str) -> dict[str, Any]:
    return {
        "station_id": station_id, "component": ref.component,
        "component_instance": ref.component_instance, "evse_id": ref.evse_id,
        "connector_id": ref.connector_id, "variable": ref.variable,
        "variable_instance": ref.variable_instance,
        "attribute_type": attribute_type or "Actual", "source": source, "updated_at": utcnow(),
    }


KEY_COLUMNS = ["station_id", "component", "component_instance", "evse_id", "connector_id",
               "variable", "variable_instance", "attribute_type"]


def report_rows(station_id: str, report_data: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """NotifyReport reportData (snake_case) -> device_variables rows."""
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for item in report_data:
        ref = VariableRef.of(item["component"], item["variable"])
        traits = item.get("variable_characteristics") or {}
        for attribute in item.get("variable_attribute") or ():
            row = _row(station_id, ref, attribute.get("type"), "NotifyReport")
            row.update(
                value=attribute.get("value"), mutability=attribute.get("mutability"),
                persistent=attribute.get("persistent"), constant=attribute.get("constant"),
                data_type=traits.get("data_type"), unit=traits.get("unit"),
                min_limit=traits.get("min_limit"), max_limit=traits.get("max_limit"),
                values_list=traits.get("values_list"),
                supports_monitoring=traits.get("supports_monitoring"))
            # A station repeating an item in one report: the last one wins (one row per key).
            rows[tuple(row[c] for c in KEY_COLUMNS)] = row
    return list(rows.values())


async def record_report(hub: Hub, station_id: str, request_id: int, generated_at: datetime,
                        seq_no: int, tbc: bool, report_data: list[dict[str, Any]]) -> int:
    """Store one NotifyReport part; return how many attributes it carried."""
    rows = report_rows(station_id, report_data)

    async def work(conn: AsyncConnection) -> int:
        await upsert(conn, DeviceVariable.__table__, rows, key=KEY_COLUMNS)
        report = (await conn.execute(sa.select(DeviceReport.__table__).where(
            DeviceReport.station_id == station_id, DeviceReport.request_id == request_id
        ))).first()
        values = {"generated_at": generated_at, "updated_at": utcnow()}
        if report is None:
            await conn.execute(sa.insert(DeviceReport).values(
                station_id=station_id, request_id=request_id, parts=1, last_seq_no=seq_no,
                variables=len(rows), complete=not tbc, **values))
        else:
            await conn.execute(sa.update(DeviceReport).where(
                DeviceReport.station_id == station_id, DeviceReport.request_id == request_id
            ).values(parts=report.parts + 1, last_seq_no=max(report.last_seq_no or 0, seq_no),
                     variables=report.variables + len(rows),
                     complete=report.complete or not tbc, **values))
        return len(rows)

    return await hub.committer.run(work)


async def report_complete(hub: Hub, station_id: str, request_id: int) -> bool:
    async with hub.sessions() as session:
        report = await session.get(DeviceReport, (station_id, request_id))
    return bool(report and report.complete)


async def inventory(hub: Hub, station_id: str,
                    attribute_type: str = "Actual") -> list[DeviceVariable]:
    async with hub.sessions() as session:
        return list((await session.execute(sa.select(DeviceVariable).where(
            DeviceVariable.station_id == station_id,
            DeviceVariable.attribute_type == attribute_type,
        ).order_by(DeviceVariable.component, DeviceVariable.component_instance,
                   DeviceVariable.evse_id, DeviceVariable.connector_id,
                   DeviceVariable.variable, DeviceVariable.variable_instance))).scalars())


async def store_values(hub: Hub, station_id: str,
                       values: list[tuple[VariableRef, str | None, str | None]],
                       source: str) -> None:
    """Remember attribute values (ref, attribute type, value) the station confirmed."""
    rows = []
    for ref, attribute_type, value in values:
        row = _row(station_id, ref, attribute_type, source)
        row["value"] = value
        rows.append(row)

    async def work(conn: AsyncConnection) -> None:
        await upsert(conn, DeviceVariable.__table__, rows, key=KEY_COLUMNS,
                     update=["value", "source", "updated_at"])

    if rows:
        await hub.committer.run(work)


def snake(data: Any) -> Any:
    """Command requests may be built with camelCase or snake_case dicts; effects read both."""
    return camel_to_snake_case(data)


class DeviceModelEffects:
    """Command effects: GetVariables results and accepted SetVariables are remembered."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    async def variables_read(self, station_id: str, request: Any, response: Any) -> None:
        values = []
        for result in snake(response.get_variable_result or []):
            if result.get("attribute_status") == "Accepted":
                values.append((VariableRef.of(result["component"], result["variable"]),
                               result.get("attribute_type"), result.get("attribute_value")))
        await store_values(self.hub, station_id, values, "GetVariables")

    async def variables_set(self, station_id: str, request: Any, response: Any) -> None:
        accepted = set()
        for result in snake(response.set_variable_result or []):
            if result.get("attribute_status") in ("Accepted", "RebootRequired"):
                ref = VariableRef.of(result["component"], result["variable"])
                accepted.add((ref, result.get("attribute_type") or "Actual"))
        values = []
        for data in snake(request.set_variable_data or []):
            ref = VariableRef.of(data["component"], data["variable"])
            attribute_type = data.get("attribute_type") or "Actual"
            if (ref, attribute_type) in accepted:
                values.append((ref, attribute_type, data.get("attribute_value")))
        await store_values(self.hub, station_id, values, "SetVariables")

"""Station commands for surfaces that should not care which OCPP version a station speaks.

Each function sends the request the station's version needs (1.6J or 2.0.1, through
``hub.commands.call``, so command effects apply) and answers in the 1.6 vocabulary the
management API, the Sites API and OICP speak:

========================  ==============================  =====================================
1.6                        2.0.1                           answer mapping for 2.0.1
========================  ==============================  =====================================
RemoteStartTransaction     RequestStartTransaction         idTag -> idToken (type guessed unless
                                                           given), connector -> EVSE,
                                                           remoteStartId chosen here
RemoteStopTransaction      RequestStopTransaction          hub transaction id -> the station's
Reset Hard / Soft          Reset Immediate / OnIdle        Scheduled -> Accepted
ChangeAvailability         ChangeAvailability              connector 0 -> no EVSE
UnlockConnector            UnlockConnector                 OngoingAuthorizedTransaction ->
                                                           UnlockFailed, UnknownConnector ->
                                                           NotSupported
TriggerMessage             TriggerMessage                  DiagnosticsStatusNotification ->
                                                           LogStatusNotification
GetConfiguration           GetVariables / the inventory    see hub.services.device_model
ChangeConfiguration        SetVariables                    UnknownComponent/-Variable,
                                                           NotSupportedAttributeType ->
                                                           NotSupported
ClearCache, DataTransfer, CancelReservation, GetLocalListVersion, SendLocalList: the same
messages; ReserveNow: hub.services.reservations.reserve_now.
========================  ==============================  =====================================
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from hub.commands import StationOffline
from hub.context import Hub
from hub.db.models import Transaction
from hub.db.models201 import EvseConnector
from hub.services import device_model
from hub.services.id_tokens import guess_id_token_type

V201 = "2.0.1"


class UnknownTransaction(LookupError):
    pass


def new_request_id() -> int:
    """A fresh id the hub picks for a command (remote start, request, profile): a positive
    32-bit integer, as OCPP's integer fields are."""
    return secrets.randbelow(2**31 - 1) + 1


def station_version(hub: Hub, station_id: str) -> str:
    version = hub.commands.ocpp_version(station_id)
    if version is None:
        raise StationOffline(station_id)
    return version


@dataclass(frozen=True)
class RemoteStart:
    status: str
    # 2.0.1: the id the station will quote in its TransactionEvent (transactionInfo), and the
    # station's transaction id when one was already running.
    remote_start_id: int | None = None
    ocpp_transaction_id: str | None = None


async def remote_start(hub: Hub, station_id: str, id_tag: str, connector_id: int | None = None,
                       charging_profile: dict[str, Any] | None = None,
                       id_token_type: str | None = None,
                       timeout: float | None = None) -> RemoteStart:
    if station_version(hub, station_id) != V201:
        response = await hub.commands.call(station_id, call16.RemoteStartTransaction(
            id_tag=id_tag, connector_id=connector_id, charging_profile=charging_profile),
            timeout=timeout)
        return RemoteStart(response.status)
    remote_start_id = new_request_id()
    response = await hub.commands.call(station_id, call201.RequestStartTransaction(
        id_token={"id_token": id_tag, "type": id_token_type or guess_id_token_type(id_tag)},
        remote_start_id=remote_start_id,
        evse_id=connector_id or None, charging_profile=charging_profile), timeout=timeout)
    return RemoteStart(response.status, remote_start_id, response.transaction_id)


async def remote_stop(hub: Hub, station_id: str, transaction_id: int,
                      timeout: float | None = None) -> str:
    """Stop the hub's transaction ``transaction_id`` (the integer every surface knows)."""
    if station_version(hub, station_id) != V201:
        response = await hub.commands.call(station_id, call16.RemoteStopTransaction(
            transaction_id=transaction_id), timeout=timeout)
        return response.status
    async with hub.sessions() as session:
        ocpp_id = (await session.execute(sa.select(Transaction.ocpp_transaction_id).where(
            Transaction.id == transaction_id, Transaction.station_id == station_id))).scalar()
    if ocpp_id is None:
        raise UnknownTransaction(f"station {station_id} has no transaction {transaction_id}")
    response = await hub.commands.call(station_id, call201.RequestStopTransaction(
        transaction_id=ocpp_id), timeout=timeout)
    return response.status


async def reset(hub: Hub, station_id: str, type: str = "Soft",
                timeout: float | None = None) -> str:
    if station_version(hub, station_id) != V201:
        return (await hub.commands.call(station_id, call16.Reset(type=type),
                                        timeout=timeout)).status
    response = await hub.commands.call(station_id, call201.Reset(
        type="Immediate" if type == "Hard" else "OnIdle"), timeout=timeout)
    return "Accepted" if response.status == "Scheduled" else response.status


async def change_availability(hub: Hub, station_id: str, connector_id: int, type: str,
                              timeout: float | None = None) -> str:
    if station_version(hub, station_id) != V201:
        return (await hub.commands.call(station_id, call16.ChangeAvailability(
            connector_id=connector_id, type=type), timeout=timeout)).status
    return (await hub.commands.call(station_id, call201.ChangeAvailability(
        operational_status=type, evse={"id": connector_id} if connector_id else None),
        timeout=timeout)).status


UNLOCK_STATUS = {"OngoingAuthorizedTransaction": "UnlockFailed",
                 "UnknownConnector": "NotSupported"}


async def unlock_connector(hub: Hub, station_id: str, connector_id: int,
                           timeout: float | None = None) -> str:
    if station_version(hub, station_id) != V201:
        return (await hub.commands.call(station_id, call16.UnlockConnector(
            connector_id=connector_id), timeout=timeout)).status
    response = await hub.commands.call(station_id, call201.UnlockConnector(
        evse_id=connector_id, connector_id=await _evse_connector(hub, station_id, connector_id)),
        timeout=timeout)
    return UNLOCK_STATUS.get(response.status, response.status)


# What TriggerMessage can ask for: 1.6 (ExtendedTriggerMessage for the Security Whitepaper's
# names) and 2.0.1; a name of the other version is translated where one exists.
TRIGGER16 = ("BootNotification", "DiagnosticsStatusNotification", "FirmwareStatusNotification",
             "Heartbeat", "MeterValues", "StatusNotification")
EXTENDED_TRIGGER16 = {"LogStatusNotification": "LogStatusNotification",
                      "SignChargePointCertificate": "SignChargePointCertificate",
                      "SignChargingStationCertificate": "SignChargePointCertificate"}
TRIGGER201 = ("BootNotification", "LogStatusNotification", "FirmwareStatusNotification",
              "Heartbeat", "MeterValues", "SignChargingStationCertificate",
              "SignV2GCertificate", "StatusNotification", "TransactionEvent",
              "SignCombinedCertificate", "PublishFirmwareStatusNotification")
TRIGGER_MESSAGE = {"DiagnosticsStatusNotification": "LogStatusNotification",
                   "SignChargePointCertificate": "SignChargingStationCertificate"}
TRIGGERABLE = tuple(sorted({*TRIGGER16, *EXTENDED_TRIGGER16, *TRIGGER201}))


class UnknownTrigger(ValueError):
    def __init__(self, version: str, requested_message: str) -> None:
        super().__init__(f"an OCPP {version} station cannot be asked for {requested_message}")


async def trigger_message(hub: Hub, station_id: str, requested_message: str,
                          connector_id: int | None = None, timeout: float | None = None) -> str:
    """TriggerMessage (1.6: ExtendedTriggerMessage for LogStatusNotification and the
    certificate signing request)."""
    version = station_version(hub, station_id)
    if version != V201:
        if requested_message in TRIGGER16:
            request: Any = call16.TriggerMessage(requested_message=requested_message,
                                                 connector_id=connector_id)
        elif requested_message in EXTENDED_TRIGGER16:
            request = call16.ExtendedTriggerMessage(
                requested_message=EXTENDED_TRIGGER16[requested_message],
                connector_id=connector_id)
        else:
            raise UnknownTrigger(version, requested_message)
        return (await hub.commands.call(station_id, request, timeout=timeout)).status
    name = TRIGGER_MESSAGE.get(requested_message, requested_message)
    if name not in TRIGGER201:
        raise UnknownTrigger(version, requested_message)
    evse = None
    if connector_id:
        evse = {"id": connector_id,
                "connector_id": await _evse_connector(hub, station_id, connector_id)}
    return (await hub.commands.call(station_id, call201.TriggerMessage(
        requested_message=name, evse=evse), timeout=timeout)).status


async def clear_cache(hub: Hub, station_id: str, timeout: float | None = None) -> str:
    module = call201 if station_version(hub, station_id) == V201 else call16
    return (await hub.commands.call(station_id, module.ClearCache(), timeout=timeout)).status


async def cancel_reservation(hub: Hub, station_id: str, reservation_id: int,
                             timeout: float | None = None) -> str:
    module = call201 if station_version(hub, station_id) == V201 else call16
    return (await hub.commands.call(station_id, module.CancelReservation(
        reservation_id=reservation_id), timeout=timeout)).status


async def data_transfer(hub: Hub, station_id: str, vendor_id: str,
                        message_id: str | None = None, data: Any = None,
                        timeout: float | None = None) -> tuple[str, Any]:
    """(status, data). Give ``data`` as JSON text for byte-exact vendor payloads: the `ocpp`
    dataclass layer converts the keys of JSON objects between snake_case and camelCase."""
    module = call201 if station_version(hub, station_id) == V201 else call16
    response = await hub.commands.call(station_id, module.DataTransfer(
        vendor_id=vendor_id, message_id=message_id, data=data), timeout=timeout)
    return response.status, response.data


async def get_local_list_version(hub: Hub, station_id: str,
                                 timeout: float | None = None) -> int:
    if station_version(hub, station_id) != V201:
        return (await hub.commands.call(station_id, call16.GetLocalListVersion(),
                                        timeout=timeout)).list_version
    return (await hub.commands.call(station_id, call201.GetLocalListVersion(),
                                    timeout=timeout)).version_number


async def send_local_list(hub: Hub, station_id: str, list_version: int, update_type: str,
                          entries: list[dict[str, Any]] | None = None,
                          timeout: float | None = None) -> str:
    """``entries`` in the 1.6 shape: [{"id_tag": ..., "id_tag_info": {"status", ...}}]."""
    if station_version(hub, station_id) != V201:
        return (await hub.commands.call(station_id, call16.SendLocalList(
            list_version=list_version, update_type=update_type,
            local_authorization_list=entries), timeout=timeout)).status
    converted = None
    if entries is not None:
        converted = [_authorization_data(entry) for entry in entries]
    return (await hub.commands.call(station_id, call201.SendLocalList(
        version_number=list_version, update_type=update_type,
        local_authorization_list=converted), timeout=timeout)).status


def _authorization_data(entry: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {"id_token": {"id_token": entry["id_tag"],
                                         "type": guess_id_token_type(entry["id_tag"])}}
    info = entry.get("id_tag_info")
    if info:
        converted: dict[str, Any] = {"status": info["status"]}
        if info.get("expiry_date"):
            converted["cache_expiry_date_time"] = info["expiry_date"]
        if info.get("parent_id_tag"):
            converted["group_id_token"] = {"id_token": info["parent_id_tag"], "type": "Central"}
        data["id_token_info"] = converted
    return data


# -- configuration: 1.6 keys over the 2.0.1 device model ------------------------------------

SET_STATUS = {"UnknownComponent": "NotSupported", "UnknownVariable": "NotSupported",
              "NotSupportedAttributeType": "NotSupported"}


async def get_configuration(hub: Hub, station_id: str, keys: list[str] | None = None,
                            timeout: float | None = None) -> dict[str, list[Any]]:
    """{"configuration_key": [{"key", "readonly", "value"}], "unknown_key": [...]}.

    2.0.1 without keys: the stored inventory, first fetched with GetBaseReport
    (ConfigurationInventory) when the hub has none yet.
    """
    if station_version(hub, station_id) != V201:
        response = await hub.commands.call(station_id, call16.GetConfiguration(key=keys or None),
                                           timeout=timeout)
        return {"configuration_key": response.configuration_key or [],
                "unknown_key": response.unknown_key or []}
    if not keys:
        return {"configuration_key": await _inventory_keys(hub, station_id, timeout),
                "unknown_key": []}

    known: dict[str, device_model.VariableRef] = {}
    unknown: list[str] = []
    for key in keys:
        try:
            known[key] = device_model.parse_key(key)
        except device_model.InvalidKey:
            unknown.append(key)
    if not known:
        return {"configuration_key": [], "unknown_key": unknown}
    response = await hub.commands.call(station_id, call201.GetVariables(get_variable_data=[
        {**ref.ocpp(), "attribute_type": "Actual"} for ref in known.values()]), timeout=timeout)
    results = {}
    for result in device_model.snake(response.get_variable_result):
        results[device_model.VariableRef.of(result["component"], result["variable"])] = result
    mutability = await _mutability(hub, station_id)
    found = []
    for key, ref in known.items():
        result = results.get(ref)
        if result is None or result.get("attribute_status") != "Accepted":
            unknown.append(key)
            continue
        found.append({"key": key, "readonly": mutability.get(ref) == "ReadOnly",
                      "value": result.get("attribute_value")})
    return {"configuration_key": found, "unknown_key": unknown}


async def change_configuration(hub: Hub, station_id: str, key: str, value: str,
                               timeout: float | None = None) -> str:
    """Accepted, Rejected, RebootRequired or NotSupported, as 1.6 ChangeConfiguration."""
    if station_version(hub, station_id) != V201:
        return (await hub.commands.call(station_id, call16.ChangeConfiguration(
            key=key, value=value), timeout=timeout)).status
    try:
        ref = device_model.parse_key(key)
    except device_model.InvalidKey:
        return "NotSupported"
    response = await hub.commands.call(station_id, call201.SetVariables(set_variable_data=[
        {**ref.ocpp(), "attribute_type": "Actual", "attribute_value": value}]), timeout=timeout)
    status = device_model.snake(response.set_variable_result)[0]["attribute_status"]
    return SET_STATUS.get(status, status)


async def _inventory_keys(hub: Hub, station_id: str,
                          timeout: float | None) -> list[dict[str, Any]]:
    rows = await device_model.inventory(hub, station_id)
    if not rows:
        request_id = new_request_id()
        response = await hub.commands.call(station_id, call201.GetBaseReport(
            request_id=request_id, report_base="ConfigurationInventory"), timeout=timeout)
        if response.status == "Accepted":
            await _wait_for_report(hub, station_id, request_id,
                                   timeout or hub.commands.default_timeout)
        rows = await device_model.inventory(hub, station_id)
    return [{"key": device_model.VariableRef(
                row.component, row.variable, row.component_instance, row.evse_id,
                row.connector_id, row.variable_instance).key(),
             "readonly": row.mutability == "ReadOnly", "value": row.value} for row in rows]


async def _wait_for_report(hub: Hub, station_id: str, request_id: int, timeout: float) -> None:
    """NotifyReport parts arrive on the station's socket after the answer; wait for the last
    (tbc false), or give up at the timeout and answer with what arrived."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if await device_model.report_complete(hub, station_id, request_id):
            return
        await asyncio.sleep(0.05)


async def _mutability(hub: Hub, station_id: str) -> dict[device_model.VariableRef, str | None]:
    rows = await device_model.inventory(hub, station_id)
    return {device_model.VariableRef(r.component, r.variable, r.component_instance, r.evse_id,
                                     r.connector_id, r.variable_instance): r.mutability
            for r in rows}


async def _evse_connector(hub: Hub, station_id: str, evse_id: int) -> int:
    """The connector of an EVSE: the only one the station reported, else 1."""
    async with hub.sessions() as session:
        connectors = (await session.execute(sa.select(EvseConnector.connector_id).where(
            EvseConnector.station_id == station_id, EvseConnector.evse_id == evse_id
        ))).scalars().all()
    return connectors[0] if len(connectors) == 1 else 1

"""The version-independent station commands send each version its own request and answer in
the 1.6 vocabulary, so the management API and OICP work for 2.0.1 stations unchanged."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from ocpp.v201 import call, call_result

from hub.db.models import Reservation
from hub.db.models201 import Transaction201
from hub.services import station_commands as sc
from hub.services.reservations import reserve_now
from tests.harness import RunningHub, connect_station, connect_station201


async def test_commands_speak_2_0_1_to_a_2_0_1_station(hub: RunningHub) -> None:
    h = hub.hub
    async with connect_station201(hub, "CP-SC") as cp:
        await cp.boot()
        last = lambda: cp.received[-1]  # noqa: E731

        started = await sc.remote_start(h, "CP-SC", "04A1B2C3", connector_id=2)
        assert started.status == "Accepted" and started.remote_start_id
        assert last().action == "RequestStartTransaction"
        assert last().payload["id_token"] == {"id_token": "04A1B2C3", "type": "ISO14443"}
        assert (last().payload["evse_id"], last().payload["remote_start_id"]) == (
            2, started.remote_start_id)
        # The station starts it and quotes the remoteStartId; the hub stops it by its own id.
        await cp.call(call.TransactionEvent(
            event_type="Started", timestamp="2026-11-21T10:00:00Z", trigger_reason="RemoteStart",
            seq_no=0, evse={"id": 2, "connector_id": 1},
            id_token={"id_token": "04A1B2C3", "type": "ISO14443"},
            transaction_info={"transaction_id": "RS-1",
                              "remote_start_id": started.remote_start_id}), suppress=False)
        async with h.sessions() as session:
            detail = (await session.execute(sa.select(Transaction201).where(
                Transaction201.remote_start_id == started.remote_start_id))).scalar_one()
        assert await sc.remote_stop(h, "CP-SC", detail.transaction_id) == "Accepted"
        assert last().payload == {"transaction_id": "RS-1"}

        assert await sc.reset(h, "CP-SC", "Hard") == "Accepted"
        assert last().payload == {"type": "Immediate"}
        cp.answers["Reset"] = call_result.Reset(status="Scheduled")
        assert await sc.reset(h, "CP-SC", "Soft") == "Accepted"
        assert last().payload == {"type": "OnIdle"}

        assert await sc.change_availability(h, "CP-SC", 0, "Inoperative") == "Accepted"
        assert last().payload == {"operational_status": "Inoperative"}
        assert await sc.change_availability(h, "CP-SC", 2, "Operative") == "Accepted"
        assert last().payload["evse"] == {"id": 2}

        assert await sc.unlock_connector(h, "CP-SC", 2) == "Unlocked"
        assert last().payload == {"evse_id": 2, "connector_id": 1}
        cp.answers["UnlockConnector"] = call_result.UnlockConnector(status="UnknownConnector")
        assert await sc.unlock_connector(h, "CP-SC", 9) == "NotSupported"

        assert await sc.trigger_message(h, "CP-SC", "DiagnosticsStatusNotification") == \
            "Accepted"
        assert last().payload == {"requested_message": "LogStatusNotification"}
        assert await sc.trigger_message(h, "CP-SC", "StatusNotification", 2) == "Accepted"
        assert last().payload["evse"] == {"id": 2, "connector_id": 1}

        assert await sc.clear_cache(h, "CP-SC") == "Accepted"
        assert await sc.data_transfer(h, "CP-SC", "com.example", "ping", "x") == (
            "Accepted", {"pong": "x"})
        assert await sc.get_local_list_version(h, "CP-SC") == 7
        assert await sc.send_local_list(h, "CP-SC", 8, "Full", [
            {"id_tag": "DE-ABC-C12345678-X", "id_tag_info": {"status": "Accepted",
                                                              "parent_id_tag": "FLEET"}}]) == \
            "Accepted"
        assert last().payload["local_authorization_list"] == [{
            "id_token": {"id_token": "DE-ABC-C12345678-X", "type": "eMAID"},
            "id_token_info": {"status": "Accepted",
                              "group_id_token": {"id_token": "FLEET", "type": "Central"}}}]

        reservation_id, status = await reserve_now(
            h, "CP-SC", 2, "DE-ABC-C12345678-X", datetime(2030, 1, 1, tzinfo=UTC))
        assert status == "Accepted"
        assert last().payload["id"] == reservation_id and last().payload["evse_id"] == 2
        assert await sc.cancel_reservation(h, "CP-SC", reservation_id) == "Accepted"
        async with h.sessions() as session:
            assert (await session.get(Reservation, reservation_id)).status == "Cancelled"


async def test_configuration_keys_map_onto_the_device_model(hub: RunningHub) -> None:
    h = hub.hub
    async with connect_station201(hub, "CP-CFG") as cp:
        await cp.boot()
        # Without keys: the inventory, fetched once with GetBaseReport + NotifyReport.
        everything = await sc.get_configuration(h, "CP-CFG")
        assert [a.action for a in cp.received] == ["GetBaseReport"]
        keys = {k["key"]: k for k in everything["configuration_key"]}
        assert keys["OCPPCommCtrlr.HeartbeatInterval"] == {
            "key": "OCPPCommCtrlr.HeartbeatInterval", "readonly": False, "value": "300"}
        assert keys["SecurityCtrlr.SecurityProfile"]["readonly"] is True
        await sc.get_configuration(h, "CP-CFG")
        assert len(cp.received) == 1  # served from the stored inventory

        some = await sc.get_configuration(h, "CP-CFG", [
            "HeartbeatInterval", "SecurityCtrlr.SecurityProfile", "NoSuch16Key", "Nope.Nothing"])
        assert some == {
            "configuration_key": [
                {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
                {"key": "SecurityCtrlr.SecurityProfile", "readonly": True, "value": "1"}],
            "unknown_key": ["NoSuch16Key", "Nope.Nothing"]}
        assert cp.received[-1].payload["get_variable_data"] == [
            {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"},
             "attribute_type": "Actual"},
            {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "SecurityProfile"},
             "attribute_type": "Actual"},
            {"component": {"name": "Nope"}, "variable": {"name": "Nothing"},
             "attribute_type": "Actual"}]

        assert await sc.change_configuration(h, "CP-CFG", "HeartbeatInterval", "60") == \
            "Accepted"
        assert await sc.change_configuration(h, "CP-CFG", "SecurityProfile", "3") == "Rejected"
        assert await sc.change_configuration(h, "CP-CFG", "Nope.Nothing", "1") == \
            "NotSupported"
        assert await sc.change_configuration(h, "CP-CFG", "NoSuch16Key", "1") == "NotSupported"
        stored = {k["key"]: k["value"] for k in
                  (await sc.get_configuration(h, "CP-CFG"))["configuration_key"]}
        assert stored["OCPPCommCtrlr.HeartbeatInterval"] == "60"


async def test_the_same_functions_speak_1_6_to_a_1_6_station(hub: RunningHub) -> None:
    h = hub.hub
    async with connect_station(hub, "CP-SC16") as cp:
        await cp.boot()
        started = await sc.remote_start(h, "CP-SC16", "GOOD", connector_id=1)
        assert (started.status, started.remote_start_id) == ("Accepted", None)
        assert cp.received[-1].action == "RemoteStartTransaction"
        assert await sc.reset(h, "CP-SC16", "Hard") == "Accepted"
        assert cp.received[-1].payload == {"type": "Hard"}
        config = await sc.get_configuration(h, "CP-SC16", ["HeartbeatInterval"])
        assert config["configuration_key"][0]["key"] == "HeartbeatInterval"
        assert await sc.get_local_list_version(h, "CP-SC16") == 7
        reservation_id, status = await reserve_now(h, "CP-SC16", 1, "GOOD",
                                                   datetime(2030, 1, 1, tzinfo=UTC))
        assert (status, cp.received[-1].action) == ("Accepted", "ReserveNow")
        assert cp.received[-1].payload["reservation_id"] == reservation_id

"""Hubject's webhooks: every answer an acknowledgement that validates against the OICP
OpenAPI, with the StatusCode that fits; never a 500."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from ocpp.v16 import call, call_result

from oicp.models import OicpSession
from tests.harness import connect_station, now, wait_for
from tests.oicp.conftest import (
    EVCO,
    EVSE_1,
    EVSE_2,
    PROVIDER,
    oicp_settings,
    remote_start_body,
    session_id,
    webhook,
)


async def status(station: Any, connector: int, value: str) -> None:
    await station.call(call.StatusNotification(connector_id=connector, error_code="NoError",
                                               status=value))


def code(ack: dict[str, Any]) -> str:
    return ack["StatusCode"]["Code"]


async def test_bad_input_gets_a_negative_acknowledgement(oicp_hub, mock) -> None:
    sid = session_id()
    cases: list[tuple[str, dict[str, Any]]] = [
        ("malformed", {}),
        ("603", remote_start_body(sid, evse_id="DE*ABC*E9999*9")),
        ("022", remote_start_body(sid, evse_id="not an evse")),
        ("022", {**remote_start_body(sid), "SessionID": "nope"}),
        ("022", {**remote_start_body(sid), "Identification": {"RemoteIdentification": {}}}),
        ("022", {k: v for k, v in remote_start_body(sid).items() if k != "Identification"}),
        ("022", [1, 2, 3]),
    ]
    for expected, body in cases:
        if expected == "malformed":
            status_code, ack = await webhook(oicp_hub, "start", None, raw=b'{"SessionID": ')
            expected = "022"
        else:
            status_code, ack = await webhook(oicp_hub, "start", body)
        assert status_code == 200, ack
        assert ack["Result"] is False and code(ack) == expected, (body, ack)
    # Unknown provider (path and body agree) and a path/body mismatch.
    other = {**remote_start_body(sid), "ProviderID": "DE*XYZ"}
    _, ack = await webhook(oicp_hub, "start", other, provider="DE*XYZ")
    assert ack["Result"] is False and code(ack) == "300"
    _, ack = await webhook(oicp_hub, "start", remote_start_body(sid), provider="DE*XYZ")
    assert ack["Result"] is False and code(ack) == "022"
    for kind in ("stop", "reserve", "unreserve", "reserve21", "unreserve21"):
        status_code, ack = await webhook(oicp_hub, kind, None, raw=b"\xff\xfe")
        assert status_code == 200 and code(ack) == "022"
    # The station is offline: communication to the EVSE failed.
    _, ack = await webhook(oicp_hub, "start", remote_start_body(sid))
    assert ack["Result"] is False and code(ack) == "501"


async def test_evse_state_decides_the_answer(oicp_hub, mock) -> None:
    async with connect_station(oicp_hub, "CP-1") as station:
        await station.boot()
        await status(station, 1, "Faulted")
        _, ack = await webhook(oicp_hub, "start", remote_start_body(session_id()))
        assert code(ack) == "700"
        await status(station, 1, "Charging")
        _, ack = await webhook(oicp_hub, "start", remote_start_body(session_id()))
        assert code(ack) == "602"
        await status(station, 1, "Available")
        station.answers["RemoteStartTransaction"] = call_result.RemoteStartTransaction(
            status="Rejected")
        _, ack = await webhook(oicp_hub, "start", remote_start_body(session_id()))
        assert ack["Result"] is False and code(ack) == "510"
        del station.answers["RemoteStartTransaction"]
        station.delay = 0
        # A charger answering with a CALLERROR: communication to the EVSE failed.
        station.answers["RemoteStartTransaction"] = lambda **kw: (_ for _ in ()).throw(
            RuntimeError("broken firmware"))
        _, ack = await webhook(oicp_hub, "start", remote_start_body(session_id()))
        assert ack["Result"] is False and code(ack) == "501"


async def test_remote_stop(oicp_hub, mock) -> None:
    sid = session_id()
    async with connect_station(oicp_hub, "CP-1") as station:
        await station.boot()
        await status(station, 1, "Preparing")  # EV plugged in, waiting for authorisation
        _, ack = await webhook(oicp_hub, "start", remote_start_body(sid))
        assert ack["Result"] is True
        # Hubject repeats the same request: same answer, no second command.
        _, again = await webhook(oicp_hub, "start", remote_start_body(sid))
        assert again["Result"] is True
        assert sum(r.action == "RemoteStartTransaction" for r in station.received) == 1
        started = await station.call(call.StartTransaction(
            connector_id=1, id_tag=EVCO.upper(), meter_start=100, timestamp=now()))
        stop = {"SessionID": sid, "ProviderID": PROVIDER, "EvseID": EVSE_1}
        _, ack = await webhook(oicp_hub, "stop", {**stop, "EvseID": EVSE_2})
        assert ack["Result"] is False and code(ack) == "022"
        _, ack = await webhook(oicp_hub, "stop", {**stop, "SessionID": session_id()})
        assert ack["Result"] is False and code(ack) == "400"
        _, ack = await webhook(oicp_hub, "stop", stop)
        assert ack["Result"] is True and ack["SessionID"] == sid
        remote_stop = [r for r in station.received if r.action == "RemoteStopTransaction"]
        assert remote_stop[0].payload["transaction_id"] == started.transaction_id
        await station.call(call.StopTransaction(meter_stop=2100, timestamp=now(),
                                                transaction_id=started.transaction_id,
                                                reason="Remote"))
        await wait_for(lambda: mock.accepted("ChargeDetailRecord"))
    assert mock.accepted("ChargeDetailRecord")[0]["ConsumedEnergy"] == 2.0


@pytest.mark.parametrize("form", ["v11", "v21"])
async def test_reservation_start_stop_and_its_cdr(oicp_hub, mock, form) -> None:
    start, stop = ("reserve", "unreserve") if form == "v11" else ("reserve21", "unreserve21")
    sid = session_id()
    body = {**remote_start_body(sid), "Duration": 10, "PartnerProductID": "AC3"}
    async with connect_station(oicp_hub, "CP-1") as station:
        await station.boot()
        await status(station, 1, "Available")
        _, ack = await webhook(oicp_hub, start, body)
        assert ack["Result"] is True, ack
        reserve = [r for r in station.received if r.action == "ReserveNow"][0]
        assert reserve.payload["id_tag"] == EVCO.upper()
        assert reserve.payload["connector_id"] == 1
        await status(station, 1, "Reserved")
        # Someone else cannot reserve or start on it.
        _, ack = await webhook(oicp_hub, start, {**body, "SessionID": session_id()})
        assert code(ack) in ("601", "602")
        other = {**remote_start_body(session_id()),
                 "Identification": {"RemoteIdentification": {"EvcoID": "DE-8EO-CZZ99999Z-1"}}}
        _, ack = await webhook(oicp_hub, "start", other)
        assert code(ack) == "601"
        _, ack = await webhook(oicp_hub, stop, {"SessionID": sid, "ProviderID": PROVIDER,
                                                "EvseID": EVSE_1})
        assert ack["Result"] is True, ack
        cancel = [r for r in station.received if r.action == "CancelReservation"][0]
        assert cancel.payload["reservation_id"] == reserve.payload["reservation_id"]
        await wait_for(lambda: mock.accepted("ChargeDetailRecord"))
    cdr = mock.accepted("ChargeDetailRecord")[0]
    assert cdr["SessionID"] == sid and cdr["ConsumedEnergy"] == 0
    assert cdr["PartnerProductID"] == "AC3"


async def test_remote_start_no_transaction_expires(hub_factory, mock) -> None:
    running = await hub_factory(dev=True, oicp=oicp_settings(mock, remote_start_expiry=0.1))
    sid = session_id()
    async with connect_station(running, "CP-1") as station:
        await station.boot()
        _, ack = await webhook(running, "start", remote_start_body(sid))
        assert ack["Result"] is True
        await wait_for(lambda: mock.accepted("ChargingNotifications"))
    error = mock.accepted("ChargingNotifications")[0]
    assert error["Type"] == "Error" and error["ErrorType"] == "ConnectorError"
    async with running.hub.engine.connect() as conn:
        state = (await conn.execute(sa.select(OicpSession.state).where(
            OicpSession.session_id == sid))).scalar_one()
    assert state == "expired"


async def test_fail_closed_outside_dev(hub_factory, mock) -> None:
    running = await hub_factory(dev=False, oicp=oicp_settings(mock))
    status_code, ack = await webhook(running, "start", remote_start_body(session_id()))
    assert status_code == 403 and ack["Result"] is False and code(ack) == "017"


async def test_shared_secret_and_ip_allow_list(hub_factory, mock) -> None:
    running = await hub_factory(dev=False, oicp=oicp_settings(
        mock, webhook_shared_secret="s3cret", webhook_allowed_ips=["127.0.0.0/8"]))
    body = remote_start_body(session_id())
    status_code, ack = await webhook(running, "start", body)
    assert status_code == 401 and code(ack) == "017"
    status_code, ack = await webhook(running, "start", body,
                                     headers={"X-Hubject-Webhook-Secret": "wrong"})
    assert status_code == 403
    status_code, ack = await webhook(running, "start", body,
                                     headers={"X-Hubject-Webhook-Secret": "s3cret"})
    assert status_code == 200 and code(ack) == "501"  # authenticated; the station is offline
    denied = await hub_factory(dev=False, oicp=oicp_settings(
        mock, webhook_allowed_ips=["10.0.0.0/8"]))
    status_code, ack = await webhook(denied, "start", body)
    assert status_code == 403 and code(ack) == "017"
    behind_proxy = await hub_factory(dev=False, oicp=oicp_settings(
        mock, webhook_allowed_ips=["10.0.0.0/8"], webhook_trusted_proxies=["127.0.0.1/32"]))
    status_code, _ = await webhook(behind_proxy, "start", body,
                                   headers={"X-Forwarded-For": "10.1.2.3"})
    assert status_code == 200


def test_timestamps_carry_the_offset() -> None:
    from zoneinfo import ZoneInfo

    from oicp.messages import timestamp

    value = datetime(2024, 7, 1, 12, 0, 5, 123456, tzinfo=UTC)
    assert timestamp(value, ZoneInfo("Europe/Berlin")) == "2024-07-01T14:00:05+02:00"
    assert timestamp(value, ZoneInfo("UTC")) == "2024-07-01T12:00:05+00:00"

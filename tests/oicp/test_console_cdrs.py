"""op_oicp shows the recent CDRs with their outbox state: a real `ocpp` 1.6 charger charges
three Hubject sessions; the mock Hubject accepts the first CDR, refuses the second for good
and fails the third with 5xx (retried), and the console page says which is which."""

from __future__ import annotations

import html
import re

import sqlalchemy as sa
from ocpp.v16 import call

from hub.console.users import add_user
from hub.db.models import OutboxMessage
from oicp.mock_hubject import MockHubject
from tests.harness import RunningHub, TestStation, connect_station, now, wait_for
from tests.hub.console.conftest import PASSWORD, browser, csrf_of, login
from tests.oicp.conftest import EVCO, EVSE_1, remote_start_body, session_id, webhook


async def charge(hub: RunningHub, station: TestStation, sid: str, meter_stop: int) -> None:
    """One remote-started session on connector 1, from Available to Available."""
    code, ack = await webhook(hub, "start", remote_start_body(sid))
    assert code == 200 and ack["Result"] is True, ack
    started = await station.call(call.StartTransaction(
        connector_id=1, id_tag=EVCO.upper(), meter_start=1000, timestamp=now()))
    await station.call(call.StopTransaction(meter_stop=meter_stop, timestamp=now(),
                                            transaction_id=started.transaction_id,
                                            reason="Remote"))
    await station.call(call.StatusNotification(connector_id=1, error_code="NoError",
                                               status="Available"))


async def cdr_row(hub: RunningHub, sid: str) -> OutboxMessage | None:
    async with hub.hub.sessions() as session:
        return (await session.execute(sa.select(OutboxMessage).where(
            OutboxMessage.ordering_key == f"cdr:{sid}"))).scalar_one_or_none()


def row_of(text: str, sid: str) -> str:
    match = re.search(rf'<tr class="cdr-(\w+)"><td>{re.escape(sid)}</td>(.*?)</tr>', text)
    assert match, f"no CDR row for {sid}"
    return match.group(1) + " " + match.group(2)


async def test_op_oicp_lists_cdrs_with_their_outbox_state(
        oicp_hub: RunningHub, mock: MockHubject) -> None:
    await add_user(oicp_hub.hub.sessions, "alice", PASSWORD, "admin")
    delivered, rejected, failing = session_id(), session_id(), session_id()
    async with connect_station(oicp_hub, "CP-1") as station:
        await station.boot()
        await station.call(call.StatusNotification(connector_id=1, error_code="NoError",
                                                   status="Available"))
        await charge(oicp_hub, station, delivered, 12345)
        await wait_for(lambda: mock.accepted("ChargeDetailRecord"))
        mock.mode = "reject"
        await charge(oicp_hub, station, rejected, 5000)

        async def finished() -> bool:
            row = await cdr_row(oicp_hub, rejected)
            return row is not None and row.delivered_at is not None

        await wait_for(finished)
        mock.mode = "5xx"
        await charge(oicp_hub, station, failing, 3000)

        async def failed_once() -> bool:
            row = await cdr_row(oicp_hub, failing)
            return row is not None and row.last_error is not None

        await wait_for(failed_once)

    async with browser() as http:
        assert (await login(http, oicp_hub, "alice")).status == 303
        async with http.get(oicp_hub.http_url + "/console/op_oicp") as page:
            assert page.status == 200
            text = html.unescape(await page.text())
        shown = row_of(text, delivered)
        assert shown.startswith("delivered ") and EVSE_1 in shown and "11.345" in shown
        assert row_of(text, rejected).startswith("rejected ")
        assert "rejected:" in row_of(text, rejected)
        shown = row_of(text, failing)
        assert shown.startswith("failing ") and "<td>2.0</td>" in shown
        # Newest first.
        assert text.index(failing) < text.index(rejected) < text.index(delivered)
        token = await csrf_of(http, oicp_hub.http_url + "/console/op_oicp")
        async with http.post(oicp_hub.http_url + "/console/set_language", data={
                "csrf": token, "lang": "de", "next": "/console/op_oicp"}) as page:
            german = html.unescape(await page.text())
        assert "Ladevorgangsdatensätze (CDR)" in german and ">zugestellt<" in german

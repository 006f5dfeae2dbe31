"""RFID cards the hub does not know: AuthorizeStart through Hubject, AuthorizeStop, the CDR."""

from __future__ import annotations

from ocpp.v16 import call

from tests.harness import connect_station, now, wait_for
from tests.oicp.conftest import EVSE_1

UID = "04A1B2C3D4E5F6"


async def authorize(station, tag: str) -> str:
    answer = await station.call(call.Authorize(id_tag=tag))
    return answer.id_tag_info["status"]


async def test_rfid_session_through_hubject(oicp_hub, mock) -> None:
    async with connect_station(oicp_hub, "CP-1") as station:
        await station.boot()
        assert await authorize(station, UID.lower()) == "Accepted"
        assert mock.attempts("AuthorizeStart") == 1
        request = mock.accepted("AuthorizeStart")[0]
        assert request["Identification"] == {"RFIDMifareFamilyIdentification": {"UID": UID}}
        started = await station.call(call.StartTransaction(
            connector_id=1, id_tag=UID.lower(), meter_start=500, timestamp=now()))
        assert started.id_tag_info["status"] == "Accepted"
        assert mock.attempts("AuthorizeStart") == 1  # the cached session answered
        # The card is presented again to stop: AuthorizeStop with the session.
        assert await authorize(station, UID.lower()) == "Accepted"
        stop_request = mock.accepted("AuthorizeStop")[0]
        assert stop_request["EvseID"] == EVSE_1
        await station.call(call.StopTransaction(meter_stop=1500, timestamp=now(),
                                                transaction_id=started.transaction_id,
                                                id_tag=UID.lower()))
        # The CDR and the End notification travel on separate outbox lanes: either may be first.
        await wait_for(lambda: mock.accepted("ChargeDetailRecord")
                       and len(mock.accepted("ChargingNotifications")) >= 2)
    cdr = mock.accepted("ChargeDetailRecord")[0]
    assert cdr["Identification"] == {"RFIDMifareFamilyIdentification": {"UID": UID}}
    assert cdr["EvseID"] == EVSE_1 and cdr["ConsumedEnergy"] == 1.0
    assert cdr["SessionID"] == stop_request["SessionID"]
    assert [n["Type"] for n in mock.accepted("ChargingNotifications")] == ["Start", "End"]


async def test_rejected_unknown_and_unreachable(oicp_hub, mock) -> None:
    async with connect_station(oicp_hub, "CP-1") as station:
        await station.boot()
        mock.authorization = "NotAuthorized"
        assert await authorize(station, "0A0B0C0D") == "Invalid"
        assert await authorize(station, "not-a-card") == "Invalid"
        assert mock.attempts("AuthorizeStart") == 1  # no request for what is no UID/EvcoID
        mock.mode = "5xx"
        assert await authorize(station, "0A0B0C0E") == "Invalid"

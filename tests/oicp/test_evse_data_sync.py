"""EVSE master data follows the Sites model to Hubject: Sites API writes queue a PushEvseData
fullLoad built when it is sent, edits close together share one push, and a periodic fullLoad
reconciles what no write announced."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa

from hub.db.base import utcnow
from hub.db.models import OutboxMessage, Station
from oicp import outbox
from oicp.spec import load_spec
from tests.harness import RunningHub, wait_for
from tests.oicp.conftest import oicp_settings

pytest.importorskip("sites_api.models", exc_type=ImportError)

EVSE_A = "DE*ABC*E7001*1"
EVSE_B = "DE*ABC*E7001*2"
DATA_PATH = "/evsepush/v23/operators/DE*ABC/data-records"


async def add_station(running: RunningHub, station_id: str) -> None:
    async with running.hub.engine.begin() as conn:
        await conn.execute(sa.insert(Station).values(id=station_id, created_at=utcnow(),
                                                     registration_status="Accepted"))


async def add_organisation(running: RunningHub, key: str = "acme") -> None:
    """Organisations are created explicitly, before their first site."""
    await api(running, "PUT", f"/organisations/{key}", {"name": key.title()})


async def api(running: RunningHub, method: str, path: str, body: Any = None) -> Any:
    async with aiohttp.ClientSession() as http, http.request(
            method, running.http_url + path, json=body, headers=running.auth) as response:
        answer = await response.json() if response.status != 204 else None
        assert response.status < 300, (response.status, answer)
        return answer


def site_body(station_id: str) -> dict[str, Any]:
    return {
        "name": "Depot Sued", "organization_id": "acme", "timezone": "Europe/Berlin",
        "street": "Ringstrasse", "house_number": "7", "postal_code": "80331", "city": "Muenchen",
        "country": "DEU", "latitude": 48.137, "longitude": 11.575,
        "chargers": [{"name": "Sued 1", "ocpp_id": station_id, "type": "DCFC", "ports": [
            {"name": "DC", "port_number": 1, "maximum_power_kw": 150, "connector_type": "CCS2",
             "power_type": "DC", "evse_id": EVSE_A},
            {"name": "AC", "port_number": 2, "maximum_power_kw": 22, "connector_type": "TYPE2",
             "power_type": "AC_3_PHASE", "evse_id": EVSE_B},
        ]}],
    }


def pushed(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    assert body["ActionType"] == "fullLoad"
    return {r["EvseID"]: r for r in body["OperatorEvseData"]["EvseDataRecord"]}


async def waiting_syncs(running: RunningHub) -> int:
    """Requests for a fullLoad not sent yet."""
    async with running.hub.engine.connect() as conn:
        return (await conn.execute(sa.select(sa.func.count()).where(
            OutboxMessage.ordering_key == outbox.EVSE_DATA_SYNC,
            OutboxMessage.delivered_at.is_(None)))).scalar_one()


async def all_sent(running: RunningHub) -> bool:
    return await waiting_syncs(running) == 0


async def end_change_delay(running: RunningHub) -> None:
    """The test's clock for evse_data_change_delay: the waiting requests are due now (the
    worker looks again within retry_max)."""
    async with running.hub.engine.begin() as conn:
        await conn.execute(sa.update(OutboxMessage).where(
            OutboxMessage.ordering_key == outbox.EVSE_DATA_SYNC,
            OutboxMessage.delivered_at.is_(None)).values(next_attempt_at=utcnow()))


async def test_sites_writes_reach_hubject_as_full_loads(hub_factory, mock) -> None:
    # The delay never ends by itself here: the test ends it (end_change_delay), so that "two
    # writes inside the delay" holds however slow the machine is.
    running = await hub_factory(dev=True, oicp=oicp_settings(
        mock, evses=[], evse_data_change_delay=3600))
    await add_station(running, "CP-70")
    await add_organisation(running)
    site = await api(running, "POST", "/sites", site_body("CP-70"))
    # A second edit inside the delay rides on the same push, which is built when it is sent.
    charger = site["chargers"][0]
    dc = next(p for p in charger["ports"] if p["evse_id"] == EVSE_A)
    await api(running, "PATCH", f"/sites/{site['id']}/chargers/{charger['id']}/ports/{dc['id']}",
              {"maximum_power_kw": 300})
    assert await waiting_syncs(running) == 1
    assert mock.attempts("PushEvseData") == 0
    await end_change_delay(running)

    first = pushed((await wait_for(lambda: mock.accepted("PushEvseData")))[0])
    assert set(first) == {EVSE_A, EVSE_B}
    assert first[EVSE_A]["ChargingFacilities"][0]["Power"] == 300
    assert first[EVSE_A]["Address"]["City"] == "Muenchen"
    # The one request is answered by that push: nothing is left that could push again.
    await wait_for(lambda: all_sent(running))
    assert len(mock.accepted("PushEvseData")) == 1
    spec = load_spec()
    if spec is not None:
        assert spec.request_errors(DATA_PATH, mock.accepted("PushEvseData")[0]) == []

    # Removing a port: the next fullLoad no longer carries it (Hubject deletes it).
    await api(running, "DELETE",
              f"/sites/{site['id']}/chargers/{charger['id']}/ports/{dc['id']}")
    assert await waiting_syncs(running) == 1
    await end_change_delay(running)
    await wait_for(lambda: len(mock.accepted("PushEvseData")) == 2)
    assert set(pushed(mock.accepted("PushEvseData")[1])) == {EVSE_B}
    await wait_for(lambda: all_sent(running))

    # Local controller and fuse tree edits say nothing about EVSEs: no push is requested (a
    # request would be in the outbox, committed with the edit, when the answer comes).
    await api(running, "PUT", f"/sites/{site['id']}/local-controller",
              {"name": "LC", "serial_no": "LC-1", "device_id": "dev-1"})
    assert await waiting_syncs(running) == 0
    assert len(mock.accepted("PushEvseData")) == 2


async def test_nothing_to_publish_sends_no_full_load(hub_factory, mock) -> None:
    """A fullLoad of no EVSE would make Hubject delete every EVSE of the operator."""
    running = await hub_factory(dev=True, oicp=oicp_settings(
        mock, evses=[], evse_data_change_delay=0))
    await add_organisation(running)
    await api(running, "POST", "/sites", {"name": "Empty lot", "organization_id": "acme",
                                          "timezone": "Europe/Berlin"})

    async def finished() -> Any:
        async with running.hub.engine.connect() as conn:
            return (await conn.execute(sa.select(OutboxMessage.last_error).where(
                OutboxMessage.ordering_key == outbox.EVSE_DATA_SYNC,
                OutboxMessage.delivered_at.is_not(None)))).scalar()

    note = await wait_for(finished)
    assert "nothing to publish" in note
    assert mock.attempts("PushEvseData") == 0


async def test_a_hubject_outage_delays_the_push_and_loses_nothing(hub_factory, mock) -> None:
    mock.mode = "5xx"
    running = await hub_factory(dev=True, oicp=oicp_settings(
        mock, evses=[], evse_data_change_delay=0))
    await add_station(running, "CP-71")
    await add_organisation(running)
    await api(running, "POST", "/sites", site_body("CP-71"))
    await wait_for(lambda: mock.attempts("PushEvseData") >= 2)
    assert mock.accepted("PushEvseData") == []
    mock.mode = "ok"
    body = (await wait_for(lambda: mock.accepted("PushEvseData"), timeout=10))[0]
    assert set(pushed(body)) == {EVSE_A, EVSE_B}


async def test_periodic_full_load_reconciles_unannounced_changes(hub_factory, mock) -> None:
    # Changes are not announced here (push on change is off): only the periodic fullLoad,
    # 0.0002 h = 0.72 s after start-up and then after the last one, brings them to Hubject.
    running = await hub_factory(dev=True, oicp=oicp_settings(
        mock, evses=[], push_evse_data_on_change=False, evse_data_full_load_hours=0.0002))
    await add_station(running, "CP-72")
    await add_organisation(running)
    await api(running, "POST", "/sites", site_body("CP-72"))
    body = (await wait_for(lambda: mock.accepted("PushEvseData"), timeout=10))[0]
    assert set(pushed(body)) == {EVSE_A, EVSE_B}
    await wait_for(lambda: len(mock.accepted("PushEvseData")) >= 2, timeout=10)

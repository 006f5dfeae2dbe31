"""A 2.0.1 station is admitted like a 1.6 one (security profile 1/2: HTTP Basic), its version
recorded. (Its tables against their migration: tests/hub/db/test_migrations_match_models.py.)"""

from __future__ import annotations

import pytest
import websockets

import hub.db.models  # noqa: F401
from hub.db.models import Station
from hub.services.stations import hash_password
from tests.harness import RunningHub, connect_station201


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_basic_auth_and_version_recorded(hub: RunningHub) -> None:
    password = "s3cret-station-key-201"
    async with hub.hub.sessions() as session, session.begin():
        session.add(Station(id="CP-SEC", password_hash=hash_password(password)))
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with connect_station201(hub, "CP-SEC", password="wrong-password-0000"):
            pass
    assert refused.value.response.status_code == 401
    async with connect_station201(hub, "CP-SEC", password=password) as cp:
        assert (await cp.boot()).status == "Accepted"
        async with hub.hub.sessions() as session:
            station = await session.get(Station, "CP-SEC")
            assert (station.ocpp_version, station.connected) == ("2.0.1", True)

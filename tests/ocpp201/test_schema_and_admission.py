"""The 0002_ocpp201 migration builds exactly the 2.0.1 models on both backends, and a 2.0.1
station is admitted like a 1.6 one (security profile 1/2: HTTP Basic), its version recorded."""

from __future__ import annotations

import pytest
import websockets
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import hub.db.models  # noqa: F401
import hub.db.models201
from hub.db import Base, create_engine
from hub.db.migrate import upgrade_database
from hub.db.models import Station
from hub.services.stations import hash_password
from tests.hub.harness import RunningHub
from tests.ocpp201.harness201 import connect_station201

TABLES_201 = {t.name for t in Base.metadata.sorted_tables
              if t.name in {m.__tablename__ for m in (
                  hub.db.models201.EvseConnector, hub.db.models201.Transaction201,
                  hub.db.models201.TransactionEventRecord, hub.db.models201.DeviceVariable,
                  hub.db.models201.DeviceReport, hub.db.models201.ChargingReport)}}


async def test_migration_matches_the_models(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade_database(engine)
        async with engine.connect() as conn:
            diff = await conn.run_sync(lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata))
    finally:
        await engine.dispose()
    assert len(TABLES_201) == 6

    # Other features' models may be on the metadata in a full test run; ours must match.
    assert [d for d in diff if any(f"'{name}'" in repr(d) for name in TABLES_201)] == []


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

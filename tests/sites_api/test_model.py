"""The model on its own: the migration up and down on each backend, the validation constants,
and the choice of live readings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import command
from sqlalchemy import Connection

from hub.db import create_engine
from hub.db.migrate import alembic_config, upgrade_database
from sites_api import MIGRATIONS
from sites_api.models import CONNECTOR_TYPES, EVSE_ID_PATTERN, oicp_plug
from sites_api.readings import Sample, energy_delivered_kwh, latest_readings, pick

TABLES = {"organisations", "sites", "local_controllers", "fuse_nodes", "fuse_node_connectors",
          "chargers", "ports", "rfid_cards", "vehicles"}


async def test_migration_upgrades_and_downgrades(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade_database(engine, [MIGRATIONS])
        async with engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
        assert TABLES <= tables and "stations" in tables

        def downgrade(connection: Connection) -> None:
            cfg = alembic_config([MIGRATIONS])
            cfg.attributes["connection"] = connection
            command.downgrade(cfg, "0101_sites-1")

        async with engine.begin() as conn:
            await conn.run_sync(downgrade)
        async with engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
        assert not TABLES & tables and "stations" in tables
        await upgrade_database(engine, [MIGRATIONS])  # and up again
    finally:
        await engine.dispose()


def test_evse_id_pattern_and_plugs() -> None:
    for good in ("DE*ABC*E123456", "DEABCE1", "+49*810*000*438", "US*ABC*E0001*1"):
        assert EVSE_ID_PATTERN.match(good), good
    for bad in ("", "DE*ABC", "not an evse", "DE*AB*E1", "49*810"):
        assert not EVSE_ID_PATTERN.match(bad), bad
    assert oicp_plug("CCS2") == "CCS Combo 2 Plug (Cable Attached)"
    assert {"CCS1", "J1772", "NACS"} <= set(CONNECTOR_TYPES)


T0 = datetime(2025, 1, 1, 12, tzinfo=UTC)


def s(measurand: str, value: float, unit: str | None = None, phase: str = "",
      location: str = "", at: int = 0) -> Sample:
    return Sample(measurand, phase, location, value, unit, T0 + timedelta(seconds=at))


def test_readings_prefer_outlet_totals_and_convert_units() -> None:
    samples = [
        s("Power.Active.Import", 7400, "W", location="Inlet"),
        s("Power.Active.Import", 3.0, "kW", phase="L1", location="Outlet"),
        s("Power.Active.Import", 3.5, "kW", phase="L2", location="Outlet", at=5),
        s("Current.Import", 16, "A", phase="L1"), s("Current.Import", 15, "A", phase="L2"),
        s("Voltage", 231, "V", phase="L1-N"), s("Voltage", 229, "V", phase="L2-N"),
        s("SoC", 64, "Percent", location="EV"),
        s("Energy.Active.Import.Register", 12.5, "kWh"),
    ]
    readings = latest_readings(samples)
    assert readings["power_kw"] == {"value": 6.5, "timestamp": T0 + timedelta(seconds=5)}
    assert readings["current_a"]["value"] == 16
    assert readings["voltage"]["value"] == 231
    assert readings["soc_percent"]["value"] == 64
    assert pick(samples, "Power.Offered") is None
    assert energy_delivered_kwh(samples, 10_000) == 2.5
    assert energy_delivered_kwh(samples, None) == 0.0
    assert energy_delivered_kwh([], 0) == 0.0
    # An unphased total wins over phases.
    assert pick([s("Power.Active.Import", 11000, "W"), s("Power.Active.Import", 1, "kW",
                                                         phase="L1")],
                "Power.Active.Import")[0] == 11.0


def test_the_model_module_imports_on_its_own() -> None:
    """OICP imports the model without the HTTP API: a fresh interpreter can do just that."""
    import subprocess
    import sys

    code = ("import sys, sites_api.models as m; "
            "assert m.Port.evse_id is not None and m.Site.country is not None; "
            "assert 'sites_api.routes' not in sys.modules, sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(MIGRATIONS.parents[1]))

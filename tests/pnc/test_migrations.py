"""pnc's migration goes up and down on each backend, after the core's latest revision."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

import pnc
from hub.db import create_engine
from hub.db.migrate import alembic_config, pending_revisions, upgrade_database

TABLES = {"pnc_jobs", "pnc_installed_certificates", "pnc_inventory_reports",
          "pnc_ocsp_responses", "pnc_rcp_roots", "pnc_webhook_events"}


async def _tables(engine: sa.ext.asyncio.AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))


async def test_migration_up_and_down(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade_database(engine, [pnc.MIGRATIONS])
        assert TABLES <= await _tables(engine)
        assert await pending_revisions(engine, [pnc.MIGRATIONS]) == set()
        config = alembic_config([pnc.MIGRATIONS])

        def down(connection: sa.Connection) -> None:
            config.attributes["connection"] = connection
            command.downgrade(config, "pnc_0001_plug_and_charge-1")

        async with engine.begin() as conn:
            await conn.run_sync(down)
        tables = await _tables(engine)
        assert not TABLES & tables and {"station_secc_ids", "pki_certificates"} <= tables
        await upgrade_database(engine, [pnc.MIGRATIONS])
        assert TABLES <= await _tables(engine)
    finally:
        await engine.dispose()

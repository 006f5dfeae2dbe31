"""Every chain of migrations (core, pnc, oicp, sites) builds exactly the models: one check for
all tables on each backend, so that a model changed without its migration (or the reverse)
fails here, whichever feature it belongs to."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import hub.db.models  # noqa: F401  (the models register their tables on Base.metadata)
import hub.db.models201  # noqa: F401
import hub.db.models_blocks  # noqa: F401  (OCPP blocks: reports, monitors, messages)
import hub.db.models_charging  # noqa: F401
import hub.db.models_console  # noqa: F401
import hub.db.models_redirects  # noqa: F401
import hub.files.models  # noqa: F401
import oicp
import oicp.models  # noqa: F401
import pnc
import pnc.models  # noqa: F401
import sites_api
import sites_api.models  # noqa: F401
from hub.db import Base, create_engine
from hub.db.migrate import upgrade_database

FEATURE_MIGRATIONS = [pnc.MIGRATIONS, oicp.MIGRATIONS, sites_api.MIGRATIONS]


async def test_every_migration_chain_builds_exactly_the_models(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade_database(engine, FEATURE_MIGRATIONS)
        async with engine.connect() as conn:
            diff = await conn.run_sync(lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata))
            tables = await conn.run_sync(lambda sync: set(sa.inspect(sync).get_table_names()))
    finally:
        await engine.dispose()
    assert diff == []
    # The check compared something: the tables of every feature are there.
    assert {"stations", "transactions_201", "station_charging_profiles", "station_redirects",
            "pnc_jobs", "oicp_sessions", "sites", "fuse_nodes"} <= tables, tables

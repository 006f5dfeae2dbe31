"""Schema migrations with Alembic, run programmatically (no alembic.ini needed).

Feature packages may keep their own migration folders; the app factory passes them in as
extra version locations. Each folder's chain hangs off the core's, so we upgrade to "heads".
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import to_tuple
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(extra_version_locations: Sequence[str | Path] = ()) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    locations = [str(MIGRATIONS_DIR / "versions"), *map(str, extra_version_locations)]
    # os.pathsep-separated, as alembic expects with path_separator=os
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", __import__("os").pathsep.join(locations))
    return cfg


async def upgrade_database(
    engine: AsyncEngine, extra_version_locations: Sequence[str | Path] = ()
) -> None:
    """Bring the schema to the newest revision of every migration chain."""
    cfg = alembic_config(extra_version_locations)

    def _upgrade(connection: Connection) -> None:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "heads")

    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)


async def pending_revisions(
    engine: AsyncEngine, extra_version_locations: Sequence[str | Path] = ()
) -> set[str]:
    """Heads not yet applied (empty when the schema is current)."""
    script = ScriptDirectory.from_config(alembic_config(extra_version_locations))

    def _current(connection: Connection) -> set[str]:
        return set(MigrationContext.configure(connection).get_current_heads())

    async with engine.connect() as conn:
        current = await conn.run_sync(_current)
    return set(script.get_heads()) - applied_revisions(script, current)


def applied_revisions(script: ScriptDirectory, current: set[str]) -> set[str]:
    """Every revision the recorded heads imply. Alembic records only the heads it reached, so
    a revision another one ``depends_on`` (e.g. a feature's migration needing a core column)
    is applied without being listed; a plain set difference would call it missing."""
    seen: set[str] = set()
    stack = list(current)
    while stack:
        revision = script.get_revision(stack.pop())
        if revision is None or revision.revision in seen:
            continue
        seen.add(revision.revision)
        stack.extend(to_tuple(revision.down_revision, default=()))
        stack.extend(to_tuple(revision.dependencies, default=()))
    return seen

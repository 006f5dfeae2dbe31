"""What every pnc-hub command needs: its common options, its configuration, a database with
the current schema, and plain-text tables. Imports only the standard library and hub.config at
import time (``pnc-hub --help`` must answer at once)."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hub.config import Config, load_config

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine


def run(work: Coroutine[Any, Any, int]) -> int:
    import asyncio  # ~30 ms: not for --help

    return asyncio.run(work)


def add_common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="TOML configuration file")
    parser.add_argument("--database-url", help="SQLAlchemy URL (sqlite+aiosqlite:///..., "
                                               "postgresql+asyncpg://...)")
    # Also accepted after the command; SUPPRESS keeps the global option's value otherwise.
    parser.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="also log migrations (and tracebacks of start-up failures)")


def command_config(args: argparse.Namespace, **server: Any) -> Config:
    overrides: dict[str, Any] = {"database": {"url": getattr(args, "database_url", None)},
                                 "server": server}
    if getattr(args, "dev", False):
        overrides["dev"] = True
    return load_config(getattr(args, "config", None), overrides=overrides)


async def with_database(config: Config, work: Callable[[AsyncEngine], Awaitable[int]]) -> int:
    from hub.db import create_engine

    engine = create_engine(config.database.url)
    try:
        return await work(engine)
    finally:
        await engine.dispose()


def migrations() -> list[Any]:
    from hub.app import features

    return [f.migrations for f in features() if f.migrations is not None]


async def upgrade_database(engine: AsyncEngine, migrations: list[Any]) -> None:
    from hub.db.migrate import upgrade_database as upgrade

    await upgrade(engine, migrations)


def session_factory(engine: AsyncEngine) -> Any:
    from hub.db import session_factory as factory

    return factory(engine)


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows,
                                                                          strict=False)]
    return "\n".join("  ".join(str(cell).ljust(width) for cell, width in zip(
        row, widths, strict=True)).rstrip() for row in [headers, *rows])


def when(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def json_line(view: dict[str, Any]) -> str:
    import json

    return json.dumps({k: v.isoformat() if isinstance(v, datetime) else v
                       for k, v in view.items()})


def run_on_current_schema(args: argparse.Namespace,
                          work: Callable[[AsyncEngine], Awaitable[int]],
                          config: Config | None = None) -> int:
    """Run ``work(engine)`` on the configured database once its schema is current: every
    command that reads or writes the database goes through here."""

    async def on_engine(engine: AsyncEngine) -> int:
        await upgrade_database(engine, migrations())
        return await work(engine)

    return run(with_database(config or command_config(args), on_engine))


def run_with_sessions(args: argparse.Namespace, work: Callable[..., Awaitable[int]]) -> int:
    """``work(args, sessions)`` on the configured database, its schema upgraded first."""
    return run_on_current_schema(args, lambda engine: work(args, session_factory(engine)))

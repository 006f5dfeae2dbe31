"""``pnc-hub``: serve the hub and administer its database from the shell.

Every command takes ``--config FILE`` and ``--database-url URL`` (else PNC_HUB_* environment,
else the embedded SQLite default).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.app import StartupOptions, create_app, features
from hub.config import Config, ConfigError, load_config
from hub.db import create_engine, session_factory
from hub.db.migrate import upgrade_database
from hub.gc_tuning import freeze_startup_heap, tune_collector
from hub.ocpp_server.endpoint import ssl_context


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="TOML configuration file")
    parser.add_argument("--database-url", help="SQLAlchemy URL (sqlite+aiosqlite:///..., "
                                               "postgresql+asyncpg://...)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pnc-hub", description=__doc__.splitlines()[0])
    parser.add_argument("--log-level", default="INFO")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the hub")
    _common(serve)
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--dev", action="store_true",
                       help="accept unknown stations and print a fresh admin token")
    serve.set_defaults(func=cmd_serve)

    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_commands.add_parser("upgrade", help="apply all migrations")
    _common(upgrade)
    upgrade.set_defaults(func=cmd_db_upgrade)

    station = commands.add_parser("station", help="chargers")
    station_commands = station.add_subparsers(dest="station_command", required=True)
    for verb, text in (("add", "register a station (or update it)"),
                       ("update", "change a registered station (only the options given)")):
        add = station_commands.add_parser(verb, help=text)
        _common(add)
        add.add_argument("id")
        add.add_argument("--password", help="HTTP Basic password (security profiles 1 and 2), "
                                            "16 to 40 characters")
        add.add_argument("--status", choices=["Accepted", "Pending", "Rejected"],
                         default="Accepted" if verb == "add" else None,
                         help="what its BootNotification is answered")
        add.add_argument("--secc-id", action="append", dest="secc_ids", metavar="ID",
                         help="ISO 15118 SECC ID or EVSE ID its SECC certificates may carry as "
                              "CN (repeatable; replaces the station's list)")
        add.add_argument("--no-secc-ids", action="store_true",
                         help="remove every SECC ID set for the station")
        add.set_defaults(func=cmd_station_add, must_exist=verb == "update")

    idtag = commands.add_parser("idtag", help="local authorisation identifiers")
    idtag_commands = idtag.add_subparsers(dest="idtag_command", required=True)
    tag_add = idtag_commands.add_parser("add", help="add or update an id tag")
    _common(tag_add)
    tag_add.add_argument("tag")
    tag_add.add_argument("--expiry", help="ISO 8601 expiry date")
    tag_add.add_argument("--parent", help="parent id tag (group)")
    tag_add.add_argument("--blocked", action="store_true")
    tag_add.set_defaults(func=cmd_idtag_add)

    token = commands.add_parser("token", help="API bearer tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    create = token_commands.add_parser("create", help="create a token; printed once, last line")
    _common(create)
    create.add_argument("--name", required=True)
    create.add_argument("--scope", action="append", dest="scopes",
                        help="scope (repeatable); default admin")
    create.add_argument("--org", help="organisation the token is limited to")
    create.set_defaults(func=cmd_token_create)

    # The PKI verbs live in the certs package; the CLI, beside the app factory, may mount them.
    from certs.cli import add_pki_parser

    common = argparse.ArgumentParser(add_help=False)
    _common(common)
    pki = add_pki_parser(commands, parents=[common])
    pki.set_defaults(func=cmd_pki)

    from oicp.mock_cli import add_hubject_mock_parser

    add_hubject_mock_parser(commands)
    return parser


def _config(args: argparse.Namespace, **server: Any) -> Config:
    overrides: dict[str, Any] = {"database": {"url": getattr(args, "database_url", None)},
                                 "server": server}
    if getattr(args, "dev", False):
        overrides["dev"] = True
    return load_config(getattr(args, "config", None), overrides=overrides)


def cmd_serve(args: argparse.Namespace) -> int:
    config = _config(args, host=args.host, port=args.port)
    app = create_app(config, startup=StartupOptions(print_admin_token=config.dev))
    tune_collector(config.server.gc_young_threshold)
    app.on_startup.append(freeze_startup_heap)  # runs after the hub runtime's cleanup_ctx
    tls = None
    if config.server.tls_cert:
        tls = ssl_context(config.server.tls_cert, config.server.tls_key,
                          config.server.tls_client_ca, config.server.tls_require_client_cert)
    scheme = "wss" if tls else "ws"
    print(f"pnc-hub listening on {scheme}://{config.server.host}:{config.server.port}"
          f"/ocpp/{{station_id}} (database {_safe_url(config.database.url)})", flush=True)
    web.run_app(app, host=config.server.host, port=config.server.port, ssl_context=tls,
                print=None, access_log=None, handle_signals=True,
                backlog=config.server.backlog)
    return 0


def _safe_url(url: str) -> str:
    from sqlalchemy import make_url

    return make_url(url).render_as_string(hide_password=True)


async def _with_database(config: Config, work: Callable[[AsyncEngine], Awaitable[int]]) -> int:
    engine = create_engine(config.database.url)
    try:
        return await work(engine)
    finally:
        await engine.dispose()


def _migrations() -> list[Any]:
    return [f.migrations for f in features() if f.migrations is not None]


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    async def work(engine: AsyncEngine) -> int:
        await upgrade_database(engine, _migrations())
        print("database schema is current")
        return 0

    return asyncio.run(_with_database(_config(args), work))


def cmd_station_add(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from certs.identifiers import is_secc_common_name
    from hub.db.models import Station, StationSeccId
    from hub.services.stations import hash_password

    password_hash = hash_password(args.password) if args.password else None
    secc_ids = list(dict.fromkeys(args.secc_ids or []))
    for secc_id in secc_ids:
        if not is_secc_common_name(secc_id) or len(secc_id) > 48:
            raise ValueError(f"--secc-id {secc_id!r} is neither an EVSE ID nor a SECC ID")
    if secc_ids and args.no_secc_ids:
        raise ValueError("--secc-id and --no-secc-ids exclude each other")

    async def work(engine: AsyncEngine) -> int:
        await upgrade_database(engine, _migrations())
        async with session_factory(engine)() as session, session.begin():
            station = await session.get(Station, args.id)
            if station is None:
                if args.must_exist:
                    print(f"pnc-hub: station {args.id} is not registered", file=sys.stderr)
                    return 1
                station = Station(id=args.id, created_at=datetime.now(UTC))
                session.add(station)
                await session.flush()
            if args.status:
                station.registration_status = args.status
            if args.password:
                station.password_hash = password_hash
            if secc_ids or args.no_secc_ids:
                await session.execute(sa.delete(StationSeccId).where(
                    StationSeccId.station_id == args.id))
                session.add_all(StationSeccId(station_id=args.id, secc_id=secc_id,
                                              created_at=datetime.now(UTC))
                                for secc_id in secc_ids)
        done = "updated" if args.must_exist else "registered"
        print(f"station {args.id} {done} ({station.registration_status}"
              f"{', password set' if args.password else ''}"
              f"{', SECC IDs ' + ' '.join(secc_ids) if secc_ids else ''}"
              f"{', SECC IDs removed' if args.no_secc_ids else ''})")
        return 0

    from hub.ocpp_server.endpoint import valid_station_id

    if not valid_station_id(args.id):
        raise ValueError("station id must be 1..48 printable ASCII characters without spaces")
    return asyncio.run(_with_database(_config(args), work))


def cmd_idtag_add(args: argparse.Namespace) -> int:
    from hub.db.models import IdTag
    from hub.services.timestamps import parse_timestamp

    expiry = parse_timestamp(args.expiry) if args.expiry else None
    if len(args.tag) > 20:
        raise ValueError("an OCPP 1.6 idTag has at most 20 characters")

    async def work(engine: AsyncEngine) -> int:
        await upgrade_database(engine, _migrations())
        async with session_factory(engine)() as session, session.begin():
            tag = await session.get(IdTag, args.tag)
            if tag is None:
                tag = IdTag(id_tag=args.tag, created_at=datetime.now(UTC))
                session.add(tag)
            tag.expiry_date = expiry
            tag.parent_id_tag = args.parent
            tag.blocked = args.blocked
        print(f"id tag {args.tag} saved")
        return 0

    return asyncio.run(_with_database(_config(args), work))


def cmd_token_create(args: argparse.Namespace) -> int:
    from hub.auth import create_token

    async def work(engine: AsyncEngine) -> int:
        await upgrade_database(engine, _migrations())
        token = await create_token(session_factory(engine), args.name, args.scopes, args.org)
        print(f"token {args.name!r} created with scopes {' '.join(args.scopes or ['admin'])}; "
              "store it now, it is not shown again:")
        print(token)
        return 0

    return asyncio.run(_with_database(_config(args), work))


def pki_settings(config: Config) -> dict[str, Any]:
    """The ``[pki]`` section, with the OCSP URL derived from ``server.public_url`` when unset."""
    section = dict(config.section("pki"))
    if "ocsp_url" not in section and config.server.public_url:
        section["ocsp_url"] = config.server.public_url.rstrip("/") + "/ocsp"
    if "key_dir" not in section:
        # The CA keys belong with the database that holds their certificates: beside a SQLite
        # file (./pki-keys for the default ./pnc-hub.db), else in the working directory.
        from sqlalchemy import make_url

        url = make_url(config.database.url)
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            section["key_dir"] = str(Path(url.database).parent / "pki-keys")
    return section


def cmd_pki(args: argparse.Namespace) -> int:
    from certs.cli import run_pki
    from hub.certificate_store import DatabaseCertificateStore

    config = _config(args)

    async def work(engine: AsyncEngine) -> int:
        await upgrade_database(engine, _migrations())
        return await run_pki(args, DatabaseCertificateStore(session_factory(engine)),
                             pki_settings(config))

    return asyncio.run(_with_database(config, work))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (ConfigError, ValueError) as exc:
        print(f"pnc-hub: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""pnc-hub: serve the hub and administer its database from the shell.

Every command takes --config FILE and --database-url URL (else PNC_HUB_* environment,
else the embedded SQLite default).

Start-up cost matters here (``pnc-hub --help`` should answer at once): this module imports
only the standard library and hub.config at import time; the app, SQLAlchemy, aiohttp, ocpp
and cryptography are imported inside the commands that need them.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hub.config import Config, ConfigError, load_config

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

EXIT_USAGE = 2


class _Version(argparse.Action):
    """--version, reading the installed version only when asked."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS,
                 default: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            text = version("pnc-hub")
        except PackageNotFoundError:
            text = "unknown (not installed)"
        print(f"pnc-hub {text}")
        parser.exit()


def _run(work: Coroutine[Any, Any, int]) -> int:
    import asyncio  # ~30 ms: not for --help

    return asyncio.run(work)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="TOML configuration file")
    parser.add_argument("--database-url", help="SQLAlchemy URL (sqlite+aiosqlite:///..., "
                                               "postgresql+asyncpg://...)")
    # Also accepted after the command; SUPPRESS keeps the global option's value otherwise.
    parser.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="also log migrations (and tracebacks of start-up failures)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pnc-hub", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action=_Version, help="print the version and exit")
    parser.add_argument("--log-level", default="INFO",
                        help="DEBUG, INFO (default), WARNING, ERROR")
    parser.add_argument("--log-format", choices=["text", "json"],
                        help="log lines as text (default) or one JSON object a line "
                             "(else [server] log_format)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also log migrations (and tracebacks of start-up failures)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the hub")
    _common(serve)
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--dev", action="store_true",
                       help="accept unknown stations and print the dev admin token (the same "
                            "on every start, kept beside the SQLite file)")
    serve.add_argument("--log-format", choices=["text", "json"], default=argparse.SUPPRESS,
                       help="log lines as text or one JSON object a line")
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
        if verb == "add":
            add.add_argument("--no-password", action="store_true",
                             help="register it without a password: it connects without "
                                  "credentials unless TLS client certificates are required")
        add.add_argument("--status", choices=["Accepted", "Pending", "Rejected"],
                         default="Accepted" if verb == "add" else None,
                         help="what its BootNotification is answered")
        add.add_argument("--secc-id", action="append", dest="secc_ids", metavar="ID",
                         help="ISO 15118 SECC ID or EVSE ID its SECC certificates may carry as "
                              "CN (repeatable; replaces the station's list)")
        add.add_argument("--no-secc-ids", action="store_true",
                         help="remove every SECC ID set for the station")
        add.add_argument("--org", metavar="KEY", help="the organisation that owns it (only "
                                                      "its tokens may attach it to chargers)")
        add.add_argument("--no-org", action="store_true", help="no owning organisation")
        add.set_defaults(func=cmd_station_add, must_exist=verb == "update")
    _station_read_parsers(station_commands)

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
                        help="scope (repeatable; default admin): admin, read, commands, "
                             "metrics:read, sites:read, sites:write (see the README)")
    create.add_argument("--org", help="organisation the token is limited to")
    create.add_argument("--expires", help="expiry: a duration from now (30d, 12h, 90m, 2w) or "
                                          "an RFC 3339 timestamp; default never")
    create.set_defaults(func=cmd_token_create)
    _token_admin_parsers(token_commands)

    # The PKI verbs live in the certs package; the CLI, beside the app factory, may mount them
    # (their parser is apart from certs.cli, so that --help imports no cryptography).
    from certs.cli_args import add_pki_parser

    common = argparse.ArgumentParser(add_help=False)
    _common(common)
    pki = add_pki_parser(commands, parents=[common])
    pki.set_defaults(func=cmd_pki)

    _hubject_mock_parser(commands)
    ocpp = commands.add_parser("ocpp", help="what the hub knows of OCPP")
    ocpp_commands = ocpp.add_subparsers(dest="ocpp_command", required=True)
    actions = ocpp_commands.add_parser(
        "actions", help="every OCPP action per version and direction, and the module that "
                        "answers or sends it (read from the code)")
    actions.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    actions.set_defaults(func=cmd_ocpp_actions)
    return parser


def cmd_ocpp_actions(args: argparse.Namespace) -> int:
    import dataclasses
    import json

    from hub.app import features
    from hub.ocpp_actions import action_table, render

    shipped = features()
    rows = action_table([f.ocpp_handlers for f in shipped if f.ocpp_handlers is not None],
                        ["hub", *(f.setup.__module__.split(".")[0] for f in shipped)])
    print("\n".join(json.dumps(dataclasses.asdict(r)) for r in rows) if args.json
          else render(rows))
    return 0


def _hubject_mock_parser(commands: Any) -> None:
    # Here rather than in oicp.mock_cli: importing the oicp package costs --help 0.6 s.
    mock = commands.add_parser(
        "hubject-mock", help="run a local Hubject (OICP 2.3) double for trying roaming",
        description="It answers the hub's pushes and authorisations like Hubject's QA system, "
                    "checks each request against the OICP 2.3 OpenAPI when the specification "
                    "is found (--specs, $PNC_HUB_SPECS, or ../shared/specs), and fires remote "
                    "start/stop at the hub through a small control API.")
    mock.add_argument("--host", default="127.0.0.1")
    mock.add_argument("--port", type=int, default=HUBJECT_MOCK_PORT, help="0 = any free port")
    mock.add_argument("--hub-url", default="http://127.0.0.1:9751",
                      help="the hub whose webhooks remote start/stop call")
    mock.add_argument("--provider-id", default="DE*8EO", help="the EMP's OICP ProviderID")
    mock.add_argument("--specs", help="folder holding oicp-2.3/ (default: $PNC_HUB_SPECS, "
                                      "else ../shared/specs when present)")
    mock.add_argument("--webhook-secret", default=os.environ.get(
        "PNC_HUB_OICP__WEBHOOK_SHARED_SECRET", ""),
        help="sent in X-Hubject-Webhook-Secret (the hub's [oicp] webhook_shared_secret)")
    mock.set_defaults(func=cmd_hubject_mock)


def cmd_hubject_mock(args: argparse.Namespace) -> int:
    from oicp.mock_cli import run_hubject_mock

    return run_hubject_mock(args)


HUBJECT_MOCK_PORT = 9752


def _config(args: argparse.Namespace, **server: Any) -> Config:
    overrides: dict[str, Any] = {"database": {"url": getattr(args, "database_url", None)},
                                 "server": server}
    if getattr(args, "dev", False):
        overrides["dev"] = True
    return load_config(getattr(args, "config", None), overrides=overrides)


def cmd_serve(args: argparse.Namespace) -> int:
    config = _config(args, host=args.host, port=args.port)
    if getattr(args, "log_format", None) is None and config.server.log_format == "json":
        _configure_logging(args, "json")
    from hub.serve import EXIT_STARTUP, StartupFailed, bind, serve

    if config.cluster.nats_url and config.database.url.startswith("sqlite"):
        from hub.cluster import ClusterNeedsPostgres

        print(f"pnc-hub: {ClusterNeedsPostgres()}", file=sys.stderr)
        return EXIT_STARTUP
    # Bind before anything else: a port in use fails here, before migrations or a dev token.
    try:
        sock = bind(config.server.host, config.server.port)
    except StartupFailed as exc:
        print(f"pnc-hub: {exc}", file=sys.stderr)
        return EXIT_STARTUP

    from hub.app import StartupOptions, create_app, safe_database_url
    from hub.gc_tuning import freeze_startup_heap, tune_collector
    from hub.ocpp_server.endpoint import ssl_context

    tls = None
    if config.server.tls_cert:
        tls = ssl_context(config.server.tls_cert, config.server.tls_key,
                          config.server.tls_client_ca, config.server.tls_require_client_cert)
    app = create_app(config, startup=StartupOptions(print_admin_token=config.dev))
    tune_collector(config.server.gc_young_threshold)
    app.on_startup.append(freeze_startup_heap)  # runs after the hub runtime's cleanup_ctx
    host, port = sock.getsockname()[:2]

    def announce() -> None:
        print(f"pnc-hub listening on {'wss' if tls else 'ws'}://{host}:{port}"
              f"/ocpp/{{station_id}} (database {safe_database_url(config.database.url)})",
              flush=True)

    return serve(app, sock, tls=tls, backlog=config.server.backlog, announce=announce)


async def _with_database(config: Config, work: Callable[[AsyncEngine], Awaitable[int]]) -> int:
    from hub.db import create_engine

    engine = create_engine(config.database.url)
    try:
        return await work(engine)
    finally:
        await engine.dispose()


def _migrations() -> list[Any]:
    from hub.app import features

    return [f.migrations for f in features() if f.migrations is not None]


async def upgrade_database(engine: AsyncEngine, migrations: list[Any]) -> None:
    from hub.db.migrate import upgrade_database as upgrade

    await upgrade(engine, migrations)


def session_factory(engine: AsyncEngine) -> Any:
    from hub.db import session_factory as factory

    return factory(engine)


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    async def work(engine: AsyncEngine) -> int:
        await upgrade_database(engine, _migrations())
        print("database schema is current")
        return 0

    return _run(_with_database(_config(args), work))


def cmd_station_add(args: argparse.Namespace) -> int:
    from certs.identifiers import is_secc_common_name
    from hub.db.models import Station
    from hub.services import station_identity as identity
    from hub.services.stations import hash_password

    no_password = getattr(args, "no_password", False)
    if not args.must_exist and not args.password and not no_password:
        raise ValueError(f"without --password, station {args.id} will connect without "
                         "credentials unless TLS client certificates are required "
                         "(server.tls_require_client_cert); give --password PW, or "
                         "--no-password to register it without one")
    if args.password and no_password:
        raise ValueError("--password and --no-password exclude each other")
    password_hash = hash_password(args.password) if args.password else None
    try:
        secc_ids = identity.check_secc_ids(args.secc_ids or [], is_secc_common_name)
    except identity.ProvisioningError as exc:
        raise ValueError(f"--secc-id {exc.message}") from None
    if secc_ids and args.no_secc_ids:
        raise ValueError("--secc-id and --no-secc-ids exclude each other")
    if args.org and args.no_org:
        raise ValueError("--org and --no-org exclude each other")
    changes: dict[str, object] = {}
    if secc_ids or args.no_secc_ids:
        changes["secc_ids"] = secc_ids
    if args.org or args.no_org:
        changes["organisation"] = args.org

    async def work(engine: AsyncEngine) -> int:
        await upgrade_database(engine, _migrations())
        try:
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
                if args.password or no_password:
                    station.password_hash = password_hash
                await identity.provision(session, station, **changes)  # type: ignore[arg-type]
        except identity.ProvisioningError as exc:  # rolled back: nothing is registered
            print(f"pnc-hub: --org {exc.message}", file=sys.stderr)
            return 2
        done = "updated" if args.must_exist else "registered"
        print(f"station {args.id} {done} ({station.registration_status}"
              f"{', password set' if args.password else ''}"
              f"{', SECC IDs ' + ' '.join(secc_ids) if secc_ids else ''}"
              f"{', SECC IDs removed' if args.no_secc_ids else ''}"
              f"{', owned by ' + args.org if args.org else ''}"
              f"{', no owner' if args.no_org else ''})")
        return 0

    from hub.ocpp_server.endpoint import valid_station_id

    if not valid_station_id(args.id):
        raise ValueError("station id must be 1..48 printable ASCII characters without spaces")
    return _run(_with_database(_config(args), work))


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

    return _run(_with_database(_config(args), work))


def cmd_token_create(args: argparse.Namespace) -> int:
    from hub.api_tokens import parse_expiry
    from hub.auth import check_scopes, create_token

    scopes = check_scopes(args.scopes)  # before touching the database: a typo fails at once
    expires_at = parse_expiry(args.expires) if args.expires else None

    async def work(engine: AsyncEngine) -> int:
        await upgrade_database(engine, _migrations())
        token = await create_token(session_factory(engine), args.name, scopes, args.org,
                                   expires_at)
        until = f", expires {expires_at.isoformat(timespec='seconds')}" if expires_at else ""
        print(f"token {args.name!r} created with scopes {' '.join(scopes)}{until}; "
              "store it now, it is not shown again:")
        print(token)
        return 0

    return _run(_with_database(_config(args), work))


def _station_read_parsers(station_commands: Any) -> None:
    listing = station_commands.add_parser("list", help="list registered stations")
    _common(listing)
    listing.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    listing.set_defaults(func=cmd_station_list)
    show = station_commands.add_parser("show", help="one station's registration and state")
    _common(show)
    show.add_argument("id")
    show.add_argument("--json", action="store_true", help="one JSON object")
    show.set_defaults(func=cmd_station_show)
    delete = station_commands.add_parser(
        "delete", help="forget a station (refused while it has charging history)")
    _common(delete)
    delete.add_argument("id")
    delete.add_argument("--force", action="store_true",
                        help="delete even though the database says it is connected")
    delete.set_defaults(func=cmd_station_delete)


def _token_admin_parsers(token_commands: Any) -> None:
    listing = token_commands.add_parser("list", help="list tokens (never their secrets)")
    _common(listing)
    listing.add_argument("--all", action="store_true", help="include revoked tokens")
    listing.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    listing.set_defaults(func=cmd_token_list)
    revoke = token_commands.add_parser("revoke", help="revoke a token by its id (see list)")
    _common(revoke)
    revoke.add_argument("id", type=int)
    revoke.set_defaults(func=cmd_token_revoke)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows,
                                                                          strict=False)]
    return "\n".join("  ".join(str(cell).ljust(width) for cell, width in zip(
        row, widths, strict=True)).rstrip() for row in [headers, *rows])


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _station_view(station: Any, secc_ids: list[str] | None = None) -> dict[str, Any]:
    view = {"id": station.id, "registration_status": station.registration_status,
            "password_set": station.password_hash is not None,
            "connected": station.connected, "ocpp_version": station.ocpp_version,
            "vendor": station.vendor, "model": station.model,
            "firmware_version": station.firmware_version, "boot_status": station.boot_status,
            "last_boot_at": station.last_boot_at, "last_seen_at": station.last_seen_at,
            "created_at": station.created_at}
    if secc_ids is not None:
        view["secc_ids"] = secc_ids
    return view


def _json_line(view: dict[str, Any]) -> str:
    import json

    return json.dumps({k: v.isoformat() if isinstance(v, datetime) else v
                       for k, v in view.items()})


def cmd_station_list(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from hub.db.models import Station

    async def work(engine: AsyncEngine) -> int:
        await upgrade_database(engine, _migrations())
        async with session_factory(engine)() as session:
            stations = list((await session.execute(
                sa.select(Station).order_by(Station.id))).scalars())
        views = [_station_view(station) for station in stations]
        if args.json:
            for view in views:
                print(_json_line(view))
            return 0
        print(_table(["ID", "STATUS", "CONNECTED", "OCPP", "VENDOR", "MODEL", "LAST SEEN"],
                     [[v["id"], v["registration_status"], "yes" if v["connected"] else "no",
                       v["ocpp_version"] or "-", v["vendor"] or "-", v["model"] or "-",
                       _when(v["last_seen_at"])] for v in views]))
        return 0

    return _run(_with_database(_config(args), work))


def cmd_station_show(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from hub.db.models import Station, StationSeccId

    async def work(engine: AsyncEngine) -> int:
        await upgrade_database(engine, _migrations())
        async with session_factory(engine)() as session:
            station = await session.get(Station, args.id)
            secc_ids = list((await session.execute(sa.select(StationSeccId.secc_id).where(
                StationSeccId.station_id == args.id).order_by(StationSeccId.secc_id))).scalars())
        if station is None:
            print(f"pnc-hub: station {args.id} is not registered", file=sys.stderr)
            return 1
        view = _station_view(station, secc_ids)
        if args.json:
            print(_json_line(view))
            return 0
        for key, value in view.items():
            if isinstance(value, datetime) or (value is None and key.endswith("_at")):
                value = _when(value)
            elif isinstance(value, bool):
                value = "yes" if value else "no"
            elif isinstance(value, list):
                value = " ".join(value) or "-"
            print(f"{key}: {'-' if value is None else value}")
        return 0

    return _run(_with_database(_config(args), work))


def cmd_station_delete(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from hub.db.models import Station, Transaction

    async def work(engine: AsyncEngine) -> int:
        await upgrade_database(engine, _migrations())
        async with session_factory(engine)() as session, session.begin():
            station = await session.get(Station, args.id)
            if station is None:
                print(f"pnc-hub: station {args.id} is not registered", file=sys.stderr)
                return 1
            if station.connected and not args.force:
                print(f"pnc-hub: station {args.id} is connected; stop it (or pass --force)",
                      file=sys.stderr)
                return 1
            history = await session.scalar(sa.select(sa.func.count()).select_from(
                Transaction).where(Transaction.station_id == args.id))
            if history:
                print(f"pnc-hub: station {args.id} has {history} transactions; their charging "
                      "history is kept, so it cannot be deleted (refuse it instead: "
                      f"pnc-hub station update {args.id} --status Rejected)", file=sys.stderr)
                return 1
            # Connectors, configuration, SECC IDs ... go with it (ON DELETE CASCADE).
            await session.execute(sa.delete(Station).where(Station.id == args.id))
        print(f"station {args.id} deleted")
        return 0

    return _run(_with_database(_config(args), work))


def cmd_token_list(args: argparse.Namespace) -> int:
    from hub.api_tokens import list_tokens

    async def work(engine: AsyncEngine) -> int:
        await upgrade_database(engine, _migrations())
        views = await list_tokens(session_factory(engine), include_revoked=args.all)
        now = datetime.now(UTC)
        if args.json:
            import json

            for view in views:
                print(json.dumps(view.as_json(now)))
            return 0
        print(_table(["ID", "NAME", "SCOPES", "ORG", "STATE", "CREATED", "EXPIRES",
                      "LAST USED"],
                     [[str(v.id), v.name, " ".join(v.scopes), v.organisation_id or "-",
                       v.state(now), _when(v.created_at), _when(v.expires_at),
                       _when(v.last_used_at)] for v in views]))
        return 0

    return _run(_with_database(_config(args), work))


def cmd_token_revoke(args: argparse.Namespace) -> int:
    from hub.api_tokens import revoke_token

    async def work(engine: AsyncEngine) -> int:
        await upgrade_database(engine, _migrations())
        if not await revoke_token(session_factory(engine), args.id):
            print(f"pnc-hub: no API token with id {args.id}", file=sys.stderr)
            return 1
        print(f"token {args.id} revoked (running hubs refuse it within 10 s)")
        return 0

    return _run(_with_database(_config(args), work))


def cmd_pki(args: argparse.Namespace) -> int:
    from certs.cli import run_pki
    from hub.certificate_store import DatabaseCertificateStore
    from pnc.settings import pki_settings  # the feature that owns the PKI's configuration

    config = _config(args)

    async def work(engine: AsyncEngine) -> int:
        await upgrade_database(engine, _migrations())
        return await run_pki(args, DatabaseCertificateStore(session_factory(engine)),
                             pki_settings(config))

    return _run(_with_database(config, work))


def _configure_logging(args: argparse.Namespace, fmt: str | None = None) -> None:
    from hub.logs import configure_logging

    try:
        configure_logging(args.log_level, fmt or args.log_format or "text", args.verbose)
    except ValueError:
        raise ConfigError(f"--log-level {args.log_level}: not a log level "
                          "(DEBUG, INFO, WARNING, ERROR)") from None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _configure_logging(args)
        return args.func(args)
    except (ConfigError, ValueError) as exc:
        print(f"pnc-hub: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # e.g. an unreadable config file, a database file out of reach
        print(f"pnc-hub: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())

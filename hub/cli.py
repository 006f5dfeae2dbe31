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
from typing import TYPE_CHECKING, Any

from hub.cli_context import (
    add_common_options,
    command_config,
    run_on_current_schema,
    run_with_sessions,
    session_factory,
)
from hub.cli_stations import add_idtag_parser, add_station_parsers
from hub.cli_tokens import add_token_parsers
from hub.config import ConfigError

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
    add_common_options(serve)
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
    add_common_options(upgrade)
    upgrade.set_defaults(func=cmd_db_upgrade)

    add_station_parsers(commands)
    add_idtag_parser(commands)
    add_token_parsers(commands)
    from hub.console.user_cli import add_user_parser  # the console's users: their own module

    add_user_parser(commands, add_common_options, run_with_sessions)

    # The PKI verbs live in the certs package; the CLI, beside the app factory, may mount them
    # (their parser is apart from certs.cli, so that --help imports no cryptography).
    from certs.cli_args import add_pki_parser

    common = argparse.ArgumentParser(add_help=False)
    add_common_options(common)
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


def cmd_serve(args: argparse.Namespace) -> int:
    config = command_config(args, host=args.host, port=args.port)
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


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    async def work(engine: AsyncEngine) -> int:
        print("database schema is current")
        return 0

    return run_on_current_schema(args, work)


def cmd_pki(args: argparse.Namespace) -> int:
    from certs.cli import run_pki
    from hub.certificate_store import DatabaseCertificateStore
    from pnc.settings import pki_settings  # the feature that owns the PKI's configuration

    config = command_config(args)

    async def work(engine: AsyncEngine) -> int:
        return await run_pki(args, DatabaseCertificateStore(session_factory(engine)),
                             pki_settings(config))

    return run_on_current_schema(args, work, config)


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

"""pnc-hub token: create, list and revoke API bearer tokens."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hub.cli_context import (
    add_common_options,
    run_on_current_schema,
    session_factory,
    table,
    when,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine


def add_token_parsers(commands: Any) -> None:
    token = commands.add_parser("token", help="API bearer tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    create = token_commands.add_parser("create", help="create a token; printed once, last line")
    add_common_options(create)
    create.add_argument("--name", required=True)
    create.add_argument("--scope", action="append", dest="scopes",
                        help="scope (repeatable; default admin): admin, read, commands, "
                             "metrics:read, sites:read, sites:write (see the README)")
    create.add_argument("--org", help="organisation the token is limited to")
    create.add_argument("--expires", help="expiry: a duration from now (30d, 12h, 90m, 2w) or "
                                          "an RFC 3339 timestamp; default never")
    create.set_defaults(func=cmd_token_create)
    _token_admin_parsers(token_commands)


def cmd_token_create(args: argparse.Namespace) -> int:
    from hub.api_tokens import parse_expiry
    from hub.auth import check_scopes, create_token

    scopes = check_scopes(args.scopes)  # before touching the database: a typo fails at once
    expires_at = parse_expiry(args.expires) if args.expires else None

    async def work(engine: AsyncEngine) -> int:
        token = await create_token(session_factory(engine), args.name, scopes, args.org,
                                   expires_at)
        until = f", expires {expires_at.isoformat(timespec='seconds')}" if expires_at else ""
        print(f"token {args.name!r} created with scopes {' '.join(scopes)}{until}; "
              "store it now, it is not shown again:")
        print(token)
        return 0

    return run_on_current_schema(args, work)


def _token_admin_parsers(token_commands: Any) -> None:
    listing = token_commands.add_parser("list", help="list tokens (never their secrets)")
    add_common_options(listing)
    listing.add_argument("--all", action="store_true", help="include revoked tokens")
    listing.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    listing.set_defaults(func=cmd_token_list)
    revoke = token_commands.add_parser("revoke", help="revoke a token by its id (see list)")
    add_common_options(revoke)
    revoke.add_argument("id", type=int)
    revoke.set_defaults(func=cmd_token_revoke)


def cmd_token_list(args: argparse.Namespace) -> int:
    from hub.api_tokens import list_tokens

    async def work(engine: AsyncEngine) -> int:
        views = await list_tokens(session_factory(engine), include_revoked=args.all)
        now = datetime.now(UTC)
        if args.json:
            import json

            for view in views:
                print(json.dumps(view.as_json(now)))
            return 0
        print(table(["ID", "NAME", "SCOPES", "ORG", "STATE", "CREATED", "EXPIRES",
                      "LAST USED"],
                     [[str(v.id), v.name, " ".join(v.scopes), v.organisation_id or "-",
                       v.state(now), when(v.created_at), when(v.expires_at),
                       when(v.last_used_at)] for v in views]))
        return 0

    return run_on_current_schema(args, work)


def cmd_token_revoke(args: argparse.Namespace) -> int:
    from hub.api_tokens import revoke_token

    async def work(engine: AsyncEngine) -> int:
        if not await revoke_token(session_factory(engine), args.id):
            print(f"pnc-hub: no API token with id {args.id}", file=sys.stderr)
            return 1
        print(f"token {args.id} revoked (running hubs refuse it within 10 s)")
        return 0

    return run_on_current_schema(args, work)

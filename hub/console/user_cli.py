"""``pnc-hub user add|passwd|list|disable|enable|login-link``: the console's users.

Registered into the CLI by ``hub.cli``; passwords come from a prompt (no echo) or, when stdin
is not a terminal, from its first line, so that scripts can pipe them in.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from typing import Any

ROLES = ("viewer", "operator", "admin")


def add_user_parser(commands: Any, common: Callable[[argparse.ArgumentParser], None],
                    run: Callable[[argparse.Namespace, Callable[..., Any]], int]) -> None:
    """``common`` adds --config/--database-url; ``run(args, work)`` runs ``work(sessions)``
    on the configured database (schema upgraded first)."""
    user = commands.add_parser("user", help="people who log in to the console (/console/)")
    verbs = user.add_subparsers(dest="user_command", required=True)
    add = verbs.add_parser("add", help="create a user (password from a prompt or stdin)")
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, default="viewer",
                     help="viewer sees; operator also sends commands; admin also manages "
                          "users and API tokens (default viewer)")
    add.add_argument("--org", help="organisation key: the user sees only its stations")
    passwd = verbs.add_parser("passwd", help="set a user's password")
    passwd.add_argument("name")
    listing = verbs.add_parser("list", help="list users")
    disable = verbs.add_parser("disable", help="disable a user (ends its sessions)")
    disable.add_argument("name")
    enable = verbs.add_parser("enable", help="enable a disabled user again")
    enable.add_argument("name")
    link = verbs.add_parser("login-link", help="print a one-time login link (15 minutes)")
    link.add_argument("name")
    link.add_argument("--base-url", default="",
                      help="the hub's address as users reach it, e.g. https://hub.example")
    for parser, func in ((add, _add), (passwd, _passwd), (listing, _list),
                         (disable, _disable), (enable, _enable), (link, _link)):
        common(parser)
        parser.set_defaults(func=lambda args, f=func: run(args, f))


def read_password(prompt: str = "Password: ") -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass(prompt)
    if getpass.getpass("Again: ") != first:
        raise ValueError("the passwords do not match")
    return first


async def _add(args: argparse.Namespace, sessions: Any) -> int:
    from hub.console.users import add_user, check_password

    password = read_password()
    check_password(password)
    user = await add_user(sessions, args.name, password, args.role, args.org)
    org = f", organisation {user.organisation_key}" if user.organisation_key else ""
    print(f"user {user.username!r} added with role {user.role}{org}")
    return 0


async def _passwd(args: argparse.Namespace, sessions: Any) -> int:
    from hub.console.users import check_password, set_password

    password = read_password("New password: ")
    check_password(password)
    if not await set_password(sessions, args.name, password):
        print(f"pnc-hub: no user {args.name!r}", file=sys.stderr)
        return 1
    print(f"password of {args.name!r} changed")
    return 0


async def _list(args: argparse.Namespace, sessions: Any) -> int:
    from hub.console.users import list_users

    for user in await list_users(sessions):
        state = "disabled" if user.disabled else "active"
        print(f"{user.username}\t{user.role}\t{user.organisation_key or '-'}\t{state}")
    return 0


async def _disable(args: argparse.Namespace, sessions: Any) -> int:
    return await _set_disabled(args, sessions, True)


async def _enable(args: argparse.Namespace, sessions: Any) -> int:
    return await _set_disabled(args, sessions, False)


async def _set_disabled(args: argparse.Namespace, sessions: Any, disabled: bool) -> int:
    from hub.console.users import set_disabled

    if not await set_disabled(sessions, args.name, disabled):
        print(f"pnc-hub: no user {args.name!r}", file=sys.stderr)
        return 1
    print(f"user {args.name!r} {'disabled' if disabled else 'enabled'}")
    return 0


async def _link(args: argparse.Namespace, sessions: Any) -> int:
    from hub.console.users import LOGIN_LINK_MINUTES, create_login_link

    token = await create_login_link(sessions, args.name)
    print(f"one-time login link for {args.name!r}, valid {LOGIN_LINK_MINUTES} minutes:")
    print(f"{args.base_url.rstrip('/')}/console/op_directlogin?token={token}")
    return 0

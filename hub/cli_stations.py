"""pnc-hub station and idtag: register, change, list, show and delete chargers; local id tags."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hub.cli_context import (
    add_common_options,
    json_line,
    run_on_current_schema,
    session_factory,
    table,
    when,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine


def add_station_parsers(commands: Any) -> None:
    station = commands.add_parser("station", help="chargers")
    station_commands = station.add_subparsers(dest="station_command", required=True)
    for verb, text in (("add", "register a station (or update it)"),
                       ("update", "change a registered station (only the options given)")):
        add = station_commands.add_parser(verb, help=text)
        add_common_options(add)
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


def add_idtag_parser(commands: Any) -> None:
    idtag = commands.add_parser("idtag", help="local authorisation identifiers")
    idtag_commands = idtag.add_subparsers(dest="idtag_command", required=True)
    tag_add = idtag_commands.add_parser("add", help="add or update an id tag")
    add_common_options(tag_add)
    tag_add.add_argument("tag")
    tag_add.add_argument("--expiry", help="ISO 8601 expiry date")
    tag_add.add_argument("--parent", help="parent id tag (group)")
    tag_add.add_argument("--blocked", action="store_true")
    tag_add.set_defaults(func=cmd_idtag_add)


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
    return run_on_current_schema(args, work)


def cmd_idtag_add(args: argparse.Namespace) -> int:
    from hub.db.models import IdTag
    from hub.services.timestamps import parse_timestamp

    expiry = parse_timestamp(args.expiry) if args.expiry else None
    if len(args.tag) > 20:
        raise ValueError("an OCPP 1.6 idTag has at most 20 characters")

    async def work(engine: AsyncEngine) -> int:
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

    return run_on_current_schema(args, work)


def _station_read_parsers(station_commands: Any) -> None:
    listing = station_commands.add_parser("list", help="list registered stations")
    add_common_options(listing)
    listing.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    listing.set_defaults(func=cmd_station_list)
    show = station_commands.add_parser("show", help="one station's registration and state")
    add_common_options(show)
    show.add_argument("id")
    show.add_argument("--json", action="store_true", help="one JSON object")
    show.set_defaults(func=cmd_station_show)
    delete = station_commands.add_parser(
        "delete", help="forget a station (refused while it has charging history)")
    add_common_options(delete)
    delete.add_argument("id")
    delete.add_argument("--force", action="store_true",
                        help="delete even though the database says it is connected")
    delete.set_defaults(func=cmd_station_delete)


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


def cmd_station_list(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from hub.db.models import Station

    async def work(engine: AsyncEngine) -> int:
        async with session_factory(engine)() as session:
            stations = list((await session.execute(
                sa.select(Station).order_by(Station.id))).scalars())
        views = [_station_view(station) for station in stations]
        if args.json:
            for view in views:
                print(json_line(view))
            return 0
        print(table(["ID", "STATUS", "CONNECTED", "OCPP", "VENDOR", "MODEL", "LAST SEEN"],
                     [[v["id"], v["registration_status"], "yes" if v["connected"] else "no",
                       v["ocpp_version"] or "-", v["vendor"] or "-", v["model"] or "-",
                       when(v["last_seen_at"])] for v in views]))
        return 0

    return run_on_current_schema(args, work)


def cmd_station_show(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from hub.db.models import Station, StationSeccId

    async def work(engine: AsyncEngine) -> int:
        async with session_factory(engine)() as session:
            station = await session.get(Station, args.id)
            secc_ids = list((await session.execute(sa.select(StationSeccId.secc_id).where(
                StationSeccId.station_id == args.id).order_by(StationSeccId.secc_id))).scalars())
        if station is None:
            print(f"pnc-hub: station {args.id} is not registered", file=sys.stderr)
            return 1
        view = _station_view(station, secc_ids)
        if args.json:
            print(json_line(view))
            return 0
        for key, value in view.items():
            if isinstance(value, datetime) or (value is None and key.endswith("_at")):
                value = when(value)
            elif isinstance(value, bool):
                value = "yes" if value else "no"
            elif isinstance(value, list):
                value = " ".join(value) or "-"
            print(f"{key}: {'-' if value is None else value}")
        return 0

    return run_on_current_schema(args, work)


def cmd_station_delete(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from hub.db.models import Station, Transaction

    async def work(engine: AsyncEngine) -> int:
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

    return run_on_current_schema(args, work)

"""The CLI beyond serve: token list/revoke/expiry/scopes, station list/show/delete, quiet
migrations, help without backticks, --version, and an import that stays light."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from tests.harness.process import ROOT, cli

# What `pnc-hub --help` must not import: the app and the heavy libraries behind it.
HEAVY = ("hub.app", "sqlalchemy", "ocpp", "cryptography", "aiohttp", "alembic", "asyncio",
         "pnc", "oicp", "sites_api", "hub.ocpp_actions")


def test_help_and_version_import_nothing_heavy() -> None:
    probe = ("import sys, hub.cli\n"
             "for argv in (['--help'], ['--version']):\n"
             "    try:\n        hub.cli.main(argv)\n    except SystemExit:\n        pass\n"
             f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n")
    run = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "[]", run.stdout
    assert "pnc-hub " in run.stdout  # the version line


@pytest.mark.parametrize("command", [[], ["serve"], ["db", "upgrade"], ["station"],
                                     ["station", "add"], ["station", "list"],
                                     ["station", "delete"], ["token"], ["token", "create"],
                                     ["token", "list"], ["token", "revoke"], ["idtag", "add"],
                                     ["pki"], ["pki", "issue"], ["ocpp"],
                                     ["ocpp", "actions"]])
def test_help_has_no_literal_backticks(command: list[str]) -> None:
    shown = cli(*command, "--help")
    assert shown.returncode == 0, shown.stderr
    assert "usage: pnc-hub" in shown.stdout and "`" not in shown.stdout, shown.stdout


def test_version() -> None:
    shown = cli("--version")
    assert shown.returncode == 0 and shown.stdout.startswith("pnc-hub "), shown


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_migrations_are_quiet_unless_verbose(database_url: str) -> None:
    quiet = await asyncio.to_thread(cli, "db", "upgrade", "--database-url", database_url)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == "" and quiet.stdout == "database schema is current\n"
    verbose = await asyncio.to_thread(cli, "-v", "station", "list",
                                      "--database-url", database_url)
    assert verbose.returncode == 0 and "alembic" in verbose.stderr, verbose


async def test_tokens_from_the_cli(database_url: str) -> None:
    url = ["--database-url", database_url]
    bad = await asyncio.to_thread(cli, "token", "create", "--name", "x", "--scope", "metrics",
                                  *url)
    assert bad.returncode == 2 and "unknown scope 'metrics'" in bad.stderr, bad
    assert "metrics:read" in bad.stderr and "Traceback" not in bad.stderr
    past = await asyncio.to_thread(cli, "token", "create", "--name", "x", "--expires",
                                   "2001-01-01T00:00:00Z", *url)
    assert past.returncode == 2 and "not in the future" in past.stderr, past

    made = await asyncio.to_thread(cli, "token", "create", "--name", "prom", "--scope",
                                   "metrics:read", "--expires", "30d", *url)
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip().splitlines()[-1]
    listed = await asyncio.to_thread(cli, "token", "list", "--json", *url)
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    prom = next(row for row in rows if row["name"] == "prom")
    assert prom["scopes"] == ["metrics:read"] and prom["expires_at"] and prom["state"] == "active"
    assert secret not in listed.stdout
    table = await asyncio.to_thread(cli, "token", "list", *url)
    assert "prom" in table.stdout and secret not in table.stdout

    revoked = await asyncio.to_thread(cli, "token", "revoke", str(prom["id"]), *url)
    assert revoked.returncode == 0, revoked.stderr
    active = await asyncio.to_thread(cli, "token", "list", "--json", *url)
    assert "prom" not in active.stdout
    everything = await asyncio.to_thread(cli, "token", "list", "--all", "--json", *url)
    states = {json.loads(line)["name"]: json.loads(line)["state"]
              for line in everything.stdout.splitlines()}
    assert states["prom"] == "revoked"
    missing = await asyncio.to_thread(cli, "token", "revoke", "424242", *url)
    assert missing.returncode == 1 and "424242" in missing.stderr


async def test_station_list_show_delete(database_url: str) -> None:
    url = ["--database-url", database_url]
    for station in ("CP-A", "CP-B"):
        added = await asyncio.to_thread(cli, "station", "add", station, "--password",
                                        "a-long-station-key", *url)
        assert added.returncode == 0, added.stderr
    listed = await asyncio.to_thread(cli, "station", "list", *url)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split()[:2] == ["ID", "STATUS"]
    assert [line.split()[0] for line in lines[1:]] == ["CP-A", "CP-B"]
    shown = await asyncio.to_thread(cli, "station", "show", "CP-A", "--json", *url)
    view = json.loads(shown.stdout)
    assert view["id"] == "CP-A" and view["password_set"] is True
    assert "password_hash" not in shown.stdout and "a-long-station-key" not in shown.stdout
    text = await asyncio.to_thread(cli, "station", "show", "CP-A", *url)
    assert "registration_status: Accepted" in text.stdout

    deleted = await asyncio.to_thread(cli, "station", "delete", "CP-A", *url)
    assert deleted.returncode == 0, deleted.stderr
    listed = await asyncio.to_thread(cli, "station", "list", "--json", *url)
    assert [json.loads(line)["id"] for line in listed.stdout.splitlines()] == ["CP-B"]
    for verb in ("show", "delete"):
        gone = await asyncio.to_thread(cli, "station", verb, "CP-A", *url)
        assert gone.returncode == 1 and "not registered" in gone.stderr

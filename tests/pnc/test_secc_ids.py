"""SECC IDs a station's V2G certificates may carry: set with the CLI, kept by the core, and
part of the station identities the certificate store hands the CSR checks."""

from __future__ import annotations

import asyncio
import contextlib
import io
import subprocess

from hub.certificate_store import DatabaseCertificateStore
from hub.cli import main
from hub.db import create_engine, session_factory


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``pnc-hub`` in-process (a thread of its own: the command runs its own event loop)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


async def test_station_add_and_update_set_secc_ids(database_url: str) -> None:
    url = ["--database-url", database_url]
    added = await asyncio.to_thread(cli, "station", "add", "CP-SECC", "--no-password", "--secc-id",
                                    "DE*PNC*E0001*1", "--secc-id", "DE-PNC-S-0002", *url)
    assert added.returncode == 0, added.stderr
    engine = create_engine(database_url)
    store = DatabaseCertificateStore(session_factory(engine))
    try:
        assert await store.station_identities("CP-SECC") == [
            "CP-SECC", "DE*PNC*E0001*1", "DE-PNC-S-0002"]
        missing = await asyncio.to_thread(cli, "station", "update", "CP-NONE", "--secc-id",
                                          "DE*PNC*E9", *url)
        assert missing.returncode == 1 and "not registered" in missing.stderr
        bad = await asyncio.to_thread(cli, "station", "update", "CP-SECC", "--secc-id",
                                      "not an id", *url)
        assert bad.returncode == 2 and "neither an EVSE ID nor a SECC ID" in bad.stderr
        # update keeps what it is not told to change, and replaces the list it is given
        updated = await asyncio.to_thread(cli, "station", "update", "CP-SECC", "--secc-id",
                                          "DE*PNC*E0003", *url)
        assert updated.returncode == 0, updated.stderr
        assert await store.station_identities("CP-SECC") == ["CP-SECC", "DE*PNC*E0003"]
        cleared = await asyncio.to_thread(cli, "station", "update", "CP-SECC", "--no-secc-ids",
                                          *url)
        assert cleared.returncode == 0, cleared.stderr
        assert await store.station_identities("CP-SECC") == ["CP-SECC"]
        assert await store.station_identities("CP-NONE") is None
    finally:
        await engine.dispose()


async def test_station_add_and_update_set_the_owning_organisation(database_url: str) -> None:
    from hub.db.models import Station
    from sites_api.writes import ensure_organisation

    url = ["--database-url", database_url]
    unknown = await asyncio.to_thread(cli, "station", "add", "CP-ORG", "--org", "acme",
                                     "--no-password", *url)
    assert unknown.returncode == 2 and "unknown organisation 'acme'" in unknown.stderr
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await ensure_organisation(conn, "acme", "Acme")

        async def owner() -> str | None:
            async with session_factory(engine)() as session:
                station = await session.get(Station, "CP-ORG")
                assert station is not None
                return station.organisation_key

        async with session_factory(engine)() as session:  # the refused command wrote nothing
            assert await session.get(Station, "CP-ORG") is None
        added = await asyncio.to_thread(cli, "station", "add", "CP-ORG", "--org", "acme",
                                        "--no-password", *url)
        assert added.returncode == 0 and "owned by acme" in added.stdout, added.stderr
        assert await owner() == "acme"
        kept = await asyncio.to_thread(cli, "station", "update", "CP-ORG", "--status",
                                       "Pending", *url)
        assert kept.returncode == 0 and await owner() == "acme"
        cleared = await asyncio.to_thread(cli, "station", "update", "CP-ORG", "--no-org", *url)
        assert cleared.returncode == 0 and await owner() is None
    finally:
        await engine.dispose()

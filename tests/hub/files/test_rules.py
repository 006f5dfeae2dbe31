"""The rules underneath: file names, tokens, the store's accounting, configuration, and the
migration (matches the models; downgrades and upgrades again) on each backend."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from hypothesis import given
from hypothesis import strategies as st

import hub.files.models
from hub.config import ConfigError, load_config
from hub.db import Base, create_engine
from hub.db.migrate import alembic_config, upgrade_database
from hub.files.names import UnsafeName, safe_file_name, station_dir
from hub.files.store import AlreadyStored, FileStore, QuotaExceeded, StorageRefused, TooLarge
from hub.files.tokens import DOWNLOAD_PREFIX, UPLOAD_PREFIX, new_token, split_token

TABLES = {hub.files.models.StoredFile.__tablename__,
          hub.files.models.DiagnosticsRequest.__tablename__,
          hub.files.models.FirmwareRequest.__tablename__,
          hub.files.models.FileRequestEvent.__tablename__}


@pytest.mark.parametrize(("raw", "expected"), [
    ("diag.zip", "diag.zip"),
    ("Diagnose 2024-01-01.tar.gz", "Diagnose_2024-01-01.tar.gz"),
    ("größe.log", "gr__e.log"),
    (".hidden", "hidden"),
    ("", "default.bin"),
    (None, "default.bin"),
    ("a" * 300 + ".zip", "a" * 116 + ".zip"),
])
def test_safe_names(raw: str | None, expected: str) -> None:
    assert safe_file_name(raw, "default.bin") == expected


@pytest.mark.parametrize("raw", ["../x", "..", "a/b", "a\\b", "/etc/passwd", "x\x00y",
                                 "..\\..\\boot.ini", "..hidden", "..."])
def test_traversal_is_refused(raw: str) -> None:
    with pytest.raises(UnsafeName):
        safe_file_name(raw, "default.bin")


@given(st.text(max_size=300))
def test_a_safe_name_never_leaves_its_directory(raw: str) -> None:
    try:
        name = safe_file_name(raw, "default.bin")
    except UnsafeName:
        return
    root = Path("/data/diagnostics/req")
    assert (root / name).resolve().parent == root and name not in (".", "..")
    assert 0 < len(name) <= 120


def test_station_dirs_are_distinct_for_ids_that_sanitise_alike() -> None:
    assert station_dir("CP:1") != station_dir("CP_1")
    assert station_dir("CP:1").startswith("CP_1-")
    assert "/" not in station_dir("../../x") and not station_dir("..").startswith(".")


def test_tokens_carry_their_purpose_and_split_from_glued_names() -> None:
    token = new_token(UPLOAD_PREFIX)
    assert split_token(token + "diag.zip", UPLOAD_PREFIX) == (token, "diag.zip")
    assert split_token(token, UPLOAD_PREFIX) == (token, "")
    assert split_token(token, DOWNLOAD_PREFIX) is None
    assert split_token("diag.zip", UPLOAD_PREFIX) is None
    assert new_token(UPLOAD_PREFIX) != token


async def test_store_accounting(tmp_path: Path) -> None:
    store = FileStore(tmp_path, quota_bytes=100)
    store.prepare()
    assert os.listdir(tmp_path) == []  # nothing on disk before the first upload
    (tmp_path / "tmp").mkdir()
    (tmp_path / "tmp" / "stale.part").write_bytes(b"left over")
    store.prepare()  # a restart drops unfinished uploads
    assert list((tmp_path / "tmp").iterdir()) == []

    sink = store.sink(limit=60)
    with pytest.raises(TooLarge):
        sink.check_announced(61)
    sink.write(b"x" * 50)
    assert store.reserved_bytes == 50
    other = store.sink(limit=60)
    with pytest.raises(QuotaExceeded):
        other.write(b"y" * 51)  # 50 in flight + 51 > 100
    other.discard()
    await sink.finish()
    sink.place("diagnostics/a/1/x.bin")
    sink.discard()
    assert (store.used_bytes, store.reserved_bytes) == (50, 0)
    assert list((tmp_path / "tmp").iterdir()) == []

    again = store.sink(limit=60)
    again.write(b"z")
    await again.finish()
    with pytest.raises(AlreadyStored):
        again.place("diagnostics/a/1/x.bin")  # never over an existing file
    again.discard()
    assert (tmp_path / "diagnostics/a/1/x.bin").read_bytes() == b"x" * 50
    assert (store.used_bytes, store.reserved_bytes) == (50, 0)
    with pytest.raises(StorageRefused):
        store.path("../outside")
    store.remove("diagnostics/a/1/x.bin", 50)
    assert store.used_bytes == 0


def test_files_configuration() -> None:
    config = load_config(env={"PNC_HUB_FILES__FTP_ENABLED": "true",
                              "PNC_HUB_FILES__FTP_PASSIVE_PORTS": "30000-30002,30010",
                              "PNC_HUB_FILES__MAX_UPLOAD_BYTES": "1024"})
    assert config.files.ftp_enabled and config.files.max_upload_bytes == 1024
    assert config.files.default_transport == "http" and not config.files.firmware_public
    for bad in ({"ftp_passive_ports": "a-b"}, {"ftp_passive_ports": "3000-2000"},
                {"quota_bytes": 0}, {"default_transport": "scp"}, {"nonsense": 1}):
        with pytest.raises(ConfigError):
            load_config(env={}, overrides={"files": bad})


async def test_migration_matches_the_models_and_goes_down_and_up(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade_database(engine)

        def diff(sync: object) -> list[object]:
            return [d for d in compare_metadata(
                MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata)
                if any(f"'{name}'" in repr(d) for name in TABLES)]

        def down_and_up(sync: object) -> None:
            cfg = alembic_config()
            cfg.attributes["connection"] = sync
            command.downgrade(cfg, "0004_station_secc_ids")
            command.upgrade(cfg, "heads")

        async with engine.connect() as conn:
            assert await conn.run_sync(diff) == []
        async with engine.begin() as conn:
            await conn.run_sync(down_and_up)
        async with engine.connect() as conn:
            assert await conn.run_sync(diff) == []
    finally:
        await engine.dispose()

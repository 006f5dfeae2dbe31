"""``python3 -m certs --store-dir DIR [--config FILE] pki VERB ...``: the pki verbs on a file
store, without the hub. The config file is the hub's TOML; only its ``[pki]`` table is read.
The key passphrase may come from ``PNC_HUB_PKI__KEY_PASSPHRASE`` (env wins, as in the hub)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

from .cli import add_pki_parser, run_pki
from .settings import PkiSettings
from .store import FileStore


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python3 -m certs",
                                     description="pnc-hub PKI tools on a file store")
    parser.add_argument("--store-dir", type=Path, default=Path("pki"),
                        help="directory of the file store (keys go to DIR/keys by default)")
    parser.add_argument("--config", type=Path, help="TOML file with a [pki] table")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_pki_parser(commands)
    return parser


def load_settings(store_dir: Path, config: Path | None) -> PkiSettings:
    table: dict[str, object] = {}
    if config is not None:
        with config.open("rb") as handle:
            table = dict(tomllib.load(handle).get("pki", {}))
    table.setdefault("key_dir", str(store_dir / "keys"))
    passphrase = os.environ.get("PNC_HUB_PKI__KEY_PASSPHRASE")
    if passphrase:
        table["key_passphrase"] = passphrase
    return PkiSettings.from_mapping(table)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(args.store_dir, args.config)
    except (OSError, ValueError, tomllib.TOMLDecodeError) as exc:
        print(f"error: config: {exc}", file=sys.stderr)
        return 2
    store = FileStore(args.store_dir)
    return asyncio.run(run_pki(args, store, settings))


if __name__ == "__main__":
    sys.exit(main())

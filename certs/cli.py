"""The ``pki`` command verbs, as a library the hub's CLI mounts (``pnc-hub pki ...``) and that
``python3 -m certs`` runs on a file store.

    add_pki_parser(subparsers, parents=[common])   # common: --database-url/--config etc.
    exit_code = await run_pki(args, store, settings)

Output contract: ``issue`` prints the chain as PEM, leaf first, on stdout and nothing else there;
refusals print ``error: <reason>: <message>`` on stderr and exit 1. Keys are never printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from cryptography import x509

from .cli_args import add_pki_parser  # noqa: F401  (the verbs' parser, without crypto imports)
from .errors import PkiError
from .hashdata import compute_hash_data
from .hierarchy import create_dev_pki, import_cpo_chain, load_authority
from .issuing import CertificateIssuer
from .keys import KeyStore
from .lifecycle import expiring_certificates, revoke
from .roles import CertificateRole
from .settings import PkiSettings
from .store import CertificateRecord, CertificateStore

EXIT_OK = 0
EXIT_REFUSED = 1


def _load_certificate(path: Path) -> x509.Certificate:
    data = path.read_bytes()
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)[0]
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise PkiError("certificate_malformed", f"{path} is not a certificate") from exc


def _status(record: CertificateRecord) -> str:
    if record.revoked_at is not None:
        return "revoked"
    return "expired" if record.not_after <= dt.datetime.now(dt.UTC) else "valid"


def _print_records(records: Sequence[CertificateRecord], as_json: bool, out: TextIO) -> None:
    if as_json:
        for r in records:
            print(json.dumps({
                "role": r.role, "serial": r.serial, "subject": r.subject,
                "notBefore": r.not_before.isoformat(), "notAfter": r.not_after.isoformat(),
                "status": _status(r), "stationId": r.station_id, "fingerprint": r.fingerprint,
                "revocationReason": r.revocation_reason,
            }), file=out)
        return
    print(f"{'ROLE':<28} {'SERIAL':<42} {'NOT AFTER':<20} {'STATUS':<8} SUBJECT", file=out)
    for r in records:
        print(f"{r.role:<28} {r.serial:<42} {r.not_after:%Y-%m-%d %H:%M:%S} "
              f"{_status(r):<8} {r.subject}", file=out)


async def run_pki(args: argparse.Namespace, store: CertificateStore,
                  settings: PkiSettings | Mapping[str, Any], *,
                  stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run one ``pki`` verb. Returns the process exit code."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    if not isinstance(settings, PkiSettings):
        settings = PkiSettings.from_mapping(settings)
    keystore = KeyStore(settings.key_dir, settings.key_passphrase)
    try:
        return await _dispatch(args, store, settings, keystore, out, err)
    except PkiError as exc:
        print(f"error: {exc.reason}: {exc.message}", file=err)
        return EXIT_REFUSED
    except OSError as exc:
        print(f"error: io_error: {exc.strerror or exc}: {exc.filename or ''}", file=err)
        return EXIT_REFUSED


async def _dispatch(args: argparse.Namespace, store: CertificateStore, settings: PkiSettings,
                    keystore: KeyStore, out: TextIO, err: TextIO) -> int:
    command = args.pki_command
    if command == "init-dev":
        if not args.force and await load_authority(store, keystore,
                                                    CertificateRole.CPO_SUB_CA2) is not None:
            raise PkiError("pki_exists", "a CPO Sub-CA 2 with its key exists; use --force")
        pki = await create_dev_pki(store, keystore, settings)
        for role, cert in pki.certificates.items():
            print(f"{role.value:<28} {cert.serial_number:x}  {cert.subject.rfc4514_string()}",
                  file=out)
        print(f"keys written to {keystore.directory} (mode 0600)", file=out)
        return EXIT_OK
    if command == "import":
        result = await import_cpo_chain(store, keystore, args.chain.read_bytes(),
                                        args.key.read_bytes(), settings.key_passphrase)
        print(f"imported CPO Sub-CA 2: {result.sub_ca2.subject.rfc4514_string()}", file=out)
        for note in result.notes():
            print(f"note: {note}", file=err)
        return EXIT_OK
    if command == "issue":
        issuer = await CertificateIssuer.load(store, keystore, settings)
        issued = await issuer.issue_from_csr(args.csr.read_bytes(), kind=args.kind,
                                             station_id=args.station)
        if args.station is None:
            print("note: no --station given: the CN was not bound to a station's identifiers",
                  file=err)
        out.write(issued.chain_pem())
        return EXIT_OK
    if command == "revoke":
        record = await revoke(store, args.serial, reason=args.reason)
        print(f"revoked {record.serial} ({record.subject}), reason {record.revocation_reason}",
              file=out)
        return EXIT_OK
    if command == "list":
        if args.expiring is not None:
            records = await expiring_certificates(store, args.expiring, role=args.role)
        else:
            records = list(await store.find_certificates(role=args.role))
        _print_records(records, args.json, out)
        return EXIT_OK
    if command == "hash":
        data = compute_hash_data(_load_certificate(args.cert), _load_certificate(args.issuer),
                                 args.algorithm)
        print(json.dumps(data.to_ocpp(), indent=2), file=out)
        return EXIT_OK
    raise PkiError("unknown_command", f"unknown pki verb {command!r}")

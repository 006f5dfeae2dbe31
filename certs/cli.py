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

from .errors import PkiError
from .hashdata import HashAlgorithm, compute_hash_data
from .hierarchy import create_dev_pki, import_cpo_chain, load_authority
from .issuing import CertificateIssuer, CertificateKind
from .keys import KeyStore
from .lifecycle import expiring_certificates, revoke
from .roles import CertificateRole
from .settings import PkiSettings
from .store import CertificateRecord, CertificateStore

EXIT_OK = 0
EXIT_REFUSED = 1


def add_pki_parser(subparsers: Any, *,
                   parents: Sequence[argparse.ArgumentParser] = ()) -> argparse.ArgumentParser:
    """Add ``pki`` and its verbs to ``subparsers``; ``parents`` go onto every verb."""
    pki = subparsers.add_parser("pki", help="ISO 15118 / OCPP PKI: CAs, issuing, revocation",
                                description="Manage the Plug&Charge and OCPP PKI.")
    verbs = pki.add_subparsers(dest="pki_command", metavar="VERB", required=True)
    par = list(parents)

    init = verbs.add_parser("init-dev", parents=par,
                            help="create a development/test PKI (V2G, MO, OEM, CSMS)")
    init.add_argument("--force", action="store_true",
                      help="create a new dev PKI even if a CPO Sub-CA 2 is configured")

    imp = verbs.add_parser("import", parents=par,
                           help="import a production CPO Sub-CA chain and its encrypted key")
    imp.add_argument("--chain", required=True, type=Path,
                     help="PEM: CPO Sub-CA 2, CPO Sub-CA 1 and optionally the V2G root")
    imp.add_argument("--key", required=True, type=Path,
                     help="CPO Sub-CA 2 key, encrypted PKCS#8 (passphrase from the config)")

    issue = verbs.add_parser("issue", parents=par, help="sign a CSR; prints the chain, leaf first")
    issue.add_argument("--csr", required=True, type=Path, help="PKCS#10 CSR, PEM or DER")
    issue.add_argument("--type", dest="kind", choices=[k.value for k in CertificateKind],
                       default=CertificateKind.V2G.value,
                       help="v2g: SECC leaf (ISO 15118); station: OCPP TLS client certificate")
    issue.add_argument("--station", help="the station asking; binds the CN to its identifiers")

    rev = verbs.add_parser("revoke", parents=par, help="revoke a certificate by serial")
    rev.add_argument("serial", help="serial number in hex (as 'list' prints it) or fingerprint")
    rev.add_argument("--reason", default="unspecified",
                     help="RFC 5280 reason, e.g. keyCompromise, superseded")

    lst = verbs.add_parser("list", parents=par, help="list certificates")
    lst.add_argument("--expiring", type=int, metavar="DAYS",
                     help="only certificates expiring within DAYS days")
    lst.add_argument("--role", choices=[r.value for r in CertificateRole])
    lst.add_argument("--json", action="store_true", help="JSON lines instead of a table")

    hsh = verbs.add_parser("hash", parents=par,
                           help="CertificateHashData of a certificate, as OCPP JSON")
    hsh.add_argument("cert", type=Path, help="the certificate (PEM or DER)")
    hsh.add_argument("--issuer", required=True, type=Path, help="its issuer's certificate")
    hsh.add_argument("--algorithm", default="SHA256", choices=[a.value for a in HashAlgorithm])
    return pki


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

"""The ``pki`` verbs' argument parser, apart from ``certs.cli`` so that building a CLI that
mounts them (``pnc-hub --help``) imports no cryptography. The choices are literals here;
tests/certs/test_cli_args.py checks they match the enums they stand for.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .roles import CertificateRole

#: certs.issuing.CertificateKind values
CERTIFICATE_KINDS = ("v2g", "station")
#: certs.hashdata.HashAlgorithm values
HASH_ALGORITHMS = ("SHA256", "SHA384", "SHA512")


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
    issue.add_argument("--type", dest="kind", choices=list(CERTIFICATE_KINDS),
                       default="v2g",
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
    hsh.add_argument("--algorithm", default="SHA256", choices=list(HASH_ALGORITHMS))
    return pki

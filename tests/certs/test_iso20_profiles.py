"""ISO 15118-20 readiness: the V2G hierarchy (root, CPO Sub-CA 1 and 2, SECC leaf) and the MO
one with the -20 key types, secp521r1 (ECDSA-SHA512) and Ed448, built by ``certs`` and accepted
by the openssl binary's strict X.509 verification; CertificateHashData works for them too."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certs import profiles as P
from certs.hashdata import compute_hash_data
from certs.keys import KeyType, generate_key, key_type

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl binary")
CHAINS = {
    "V2G": (P.V2G_ROOT, P.CPO_SUB_CA1, P.CPO_SUB_CA2, P.SECC_LEAF),
    "MO": (P.MO_ROOT, P.MO_SUB_CA1, P.MO_SUB_CA2, P.CONTRACT),
}


def _chain(kind: KeyType, hierarchy: str) -> list[x509.Certificate]:
    """[root, sub1, sub2, leaf] in the -20 form of the ISO 15118 profiles."""
    now = dt.datetime.now(dt.UTC) - P.BACKDATE
    made: list[tuple[x509.Certificate, object]] = []
    for index, base in enumerate(CHAINS[hierarchy]):
        profile = P.iso15118_20(base)
        key = generate_key(kind)
        issuer = made[-1] if made else None
        cn = "DE*PNC*E2020*1" if index == 3 else f"ISO20 {hierarchy} {profile.name}"
        cert = P.build_certificate(
            profile, P.build_name(cn, "pnc-hub Test CPO", "DE", profile.domain_component),
            key.public_key(),  # type: ignore[attr-defined]
            issuer_certificate=issuer[0] if issuer else None,
            issuer_key=issuer[1] if issuer else key,  # type: ignore[arg-type]
            not_before=now, not_after=now + profile.validity,
            ocsp_url="http://ocsp.example.test/ocsp")
        made.append((cert, key))
    return [c for c, _ in made]


def _write(path: Path, *certs: x509.Certificate) -> Path:
    path.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in certs))
    return path


@pytest.mark.parametrize("hierarchy", ["V2G", "MO"])
@pytest.mark.parametrize(("kind", "algorithm", "key_text"), [
    (KeyType.P521, "ecdsa-with-SHA512", "secp521r1"),
    (KeyType.ED448, "ED448", "ED448"),
])
def test_iso20_chains_pass_openssl_x509_strict(tmp_path: Path, hierarchy: str, kind: KeyType,
                                                algorithm: str, key_text: str) -> None:
    root, sub1, sub2, leaf = _chain(kind, hierarchy)
    assert {key_type(c.public_key()) for c in (root, sub1, sub2, leaf)} == {kind}
    result = subprocess.run(
        ["openssl", "verify", "-x509_strict", "-CAfile", str(_write(tmp_path / "root.pem", root)),
         "-untrusted", str(_write(tmp_path / "subs.pem", sub1, sub2)),
         str(_write(tmp_path / "leaf.pem", leaf))],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip().endswith(": OK"), result.stderr
    text = subprocess.run(["openssl", "x509", "-noout", "-text", "-in",
                           str(tmp_path / "leaf.pem")], capture_output=True, text=True,
                          timeout=60).stdout
    assert f"Signature Algorithm: {algorithm}" in text and key_text in text
    # A wrong anchor fails: the check can fail.
    other = _chain(kind, hierarchy)[0]
    refused = subprocess.run(
        ["openssl", "verify", "-x509_strict", "-CAfile",
         str(_write(tmp_path / "other.pem", other)), "-untrusted", str(tmp_path / "subs.pem"),
         str(tmp_path / "leaf.pem")], capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0
    # OCPP CertificateHashData of a -20 certificate (issuer key hash over its BIT STRING).
    data = compute_hash_data(leaf, sub2)
    assert data.serial_number == format(leaf.serial_number, "x")


def test_iso2_profiles_are_not_iso20() -> None:
    assert P.iso15118_20(P.SECC_LEAF).key_types == {KeyType.P521, KeyType.ED448}
    assert KeyType.P256 not in P.iso15118_20(P.V2G_ROOT).key_types
    with pytest.raises(ValueError):
        P.iso15118_20(P.CHARGING_STATION)

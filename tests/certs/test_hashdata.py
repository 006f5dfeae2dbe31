"""CertificateHashData: equal to what ``openssl ocsp -req_text`` prints; lenient parsing of what
chargers send; matching to stored certificates."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certs.errors import HashDataError
from certs.hashdata import (
    CertificateHashData,
    HashAlgorithm,
    compute_hash_data,
    find_certificate_by_hash,
    hash_data_matches,
    parse_hash_data,
)
from certs.roles import CertificateRole as R
from certs.store import fingerprint_of

from .conftest import OpensslPki, Pki, make_csr, needs_openssl, openssl, write_pem


def _openssl_cert_id(tmp_path: Path, cert: Path, issuer: Path, algorithm: str) -> dict[str, str]:
    out = openssl("ocsp", "-issuer", str(issuer), f"-{algorithm}", "-cert", str(cert),
                  "-req_text", "-no_nonce", cwd=tmp_path).stdout
    out = re.sub(r"\\\n\s*", "", out)  # openssl wraps long hex values with a backslash
    fields = dict(re.findall(r"^\s*(Hash Algorithm|Issuer Name Hash|Issuer Key Hash|"
                             r"Serial Number): (\S+)$", out, re.MULTILINE))
    assert len(fields) == 4, out
    return fields


@needs_openssl
@pytest.mark.parametrize("algorithm", list(HashAlgorithm))
def test_hash_data_equals_openssl_req_text(openssl_pki: OpensslPki, tmp_path: Path,
                                           algorithm: HashAlgorithm):
    for leaf, issuer in [("secc", "cpo_sub2"), ("cpo_sub2", "cpo_sub1"),
                         ("contract", "mo_sub2")]:
        ours = compute_hash_data(openssl_pki.cert(leaf), openssl_pki.cert(issuer), algorithm)
        theirs = _openssl_cert_id(tmp_path, openssl_pki.path(f"{leaf}.pem"),
                                  openssl_pki.path(f"{issuer}.pem"), algorithm.hashlib_name)
        assert theirs["Hash Algorithm"] == algorithm.hashlib_name
        assert ours.issuer_name_hash == theirs["Issuer Name Hash"].lower()
        assert ours.issuer_key_hash == theirs["Issuer Key Hash"].lower()
        assert int(ours.serial_number, 16) == int(theirs["Serial Number"], 16)
        assert ours.serial_number == theirs["Serial Number"].lower().lstrip("0")


@needs_openssl
async def test_hash_data_of_issued_leaf_equals_openssl(pki: Pki, tmp_path: Path):
    issued = await pki.issuer.issue_from_csr(make_csr("DE*PNC*E1")[0])
    write_pem(tmp_path / "leaf.pem", issued.certificate)
    write_pem(tmp_path / "issuer.pem", pki[R.CPO_SUB_CA2])
    ours = compute_hash_data(issued.certificate, pki[R.CPO_SUB_CA2]).to_ocpp()
    theirs = _openssl_cert_id(tmp_path, tmp_path / "leaf.pem", tmp_path / "issuer.pem", "sha256")
    assert ours == {
        "hashAlgorithm": "SHA256",
        "issuerNameHash": theirs["Issuer Name Hash"].lower(),
        "issuerKeyHash": theirs["Issuer Key Hash"].lower(),
        "serialNumber": theirs["Serial Number"].lower().lstrip("0"),
    }


async def test_charger_spellings_are_normalised_and_matched(pki: Pki):
    issued = await pki.issuer.issue_from_csr(make_csr("DE*PNC*E1")[0])
    canonical = compute_hash_data(issued.certificate, pki[R.CPO_SUB_CA2])
    b64 = lambda h: base64.b64encode(bytes.fromhex(h)).decode()  # noqa: E731
    serial = issued.certificate.serial_number
    spellings = [
        canonical.to_ocpp(),
        {"hashAlgorithm": "sha256", "issuerNameHash": canonical.issuer_name_hash.upper(),
         "issuerKeyHash": canonical.issuer_key_hash.upper(),
         "serialNumber": canonical.serial_number.upper()},
        {"hashAlgorithm": "SHA-256", "issuerNameHash": b64(canonical.issuer_name_hash),
         "issuerKeyHash": b64(canonical.issuer_key_hash),
         "serialNumber": "00" + canonical.serial_number},
        {"hashAlgorithm": "SHA256", "issuerNameHash": canonical.issuer_name_hash,
         "issuerKeyHash": canonical.issuer_key_hash, "serialNumber": str(serial)},
        {"hashAlgorithm": "SHA256", "issuerNameHash": canonical.issuer_name_hash,
         "issuerKeyHash": canonical.issuer_key_hash,
         "serialNumber": ":".join(f"{b:02X}" for b in serial.to_bytes(20, "big"))},
    ]
    for data in spellings:
        assert canonical in parse_hash_data(data), data
        assert hash_data_matches(data, canonical)
        record = await find_certificate_by_hash(pki.store, data)
        assert record is not None and record.fingerprint == issued.fingerprint, data


async def test_match_other_algorithms_and_self_signed_roots(pki: Pki):
    root = pki[R.V2G_ROOT]
    for algorithm in HashAlgorithm:
        data = compute_hash_data(root, root, algorithm)
        record = await find_certificate_by_hash(pki.store, data.to_ocpp())
        assert record is not None and record.fingerprint == fingerprint_of(root)
    sub2 = compute_hash_data(pki[R.CPO_SUB_CA2], pki[R.CPO_SUB_CA1], "SHA512")
    assert (await find_certificate_by_hash(pki.store, sub2)).role == R.CPO_SUB_CA2


async def test_no_match(pki: Pki):
    data = compute_hash_data(pki[R.V2G_ROOT], pki[R.V2G_ROOT]).to_ocpp()
    data["serialNumber"] = "1234abcd"
    assert await find_certificate_by_hash(pki.store, data) is None
    # Right serial, wrong issuer key.
    data = compute_hash_data(pki[R.CPO_SUB_CA2], pki[R.MO_ROOT]).to_ocpp()
    assert await find_certificate_by_hash(pki.store, data) is None


@pytest.mark.parametrize(("data", "reason"), [
    ({"hashAlgorithm": "MD5", "issuerNameHash": "00" * 16, "issuerKeyHash": "00" * 16,
      "serialNumber": "01"}, "hash_algorithm_unsupported"),
    ({"hashAlgorithm": "SHA256", "issuerNameHash": "00" * 31, "issuerKeyHash": "00" * 32,
      "serialNumber": "01"}, "hash_malformed"),
    ({"hashAlgorithm": "SHA256", "issuerNameHash": "zz" * 32, "issuerKeyHash": "00" * 32,
      "serialNumber": "01"}, "hash_malformed"),
    ({"hashAlgorithm": "SHA256", "issuerNameHash": "00" * 32, "issuerKeyHash": "00" * 32,
      "serialNumber": "%%"}, "serial_malformed"),
    ({"hashAlgorithm": "SHA256", "issuerNameHash": "00" * 32, "issuerKeyHash": "00" * 32},
     "hash_data_incomplete"),
])
def test_malformed_hash_data(data: dict, reason: str):
    with pytest.raises(HashDataError) as caught:
        parse_hash_data(data)
    assert caught.value.reason == reason


@settings(deadline=None, max_examples=200)  # no per-example deadline: CI machines are busy
@given(
    algorithm=st.sampled_from(list(HashAlgorithm)),
    seed=st.binary(min_size=64, max_size=64),
    serial=st.integers(min_value=1, max_value=2**159),
    upper=st.booleans(),
    as_base64=st.booleans(),
)
def test_any_encoding_round_trips(algorithm, seed, serial, upper, as_base64):
    size = algorithm.digest_size
    name, key = (seed * 2)[:size], (seed * 2)[size:2 * size] or seed[:size]
    key = (key * 2)[:size]
    canonical = CertificateHashData(algorithm, name.hex(), key.hex(), format(serial, "x"))

    def enc(raw: bytes) -> str:
        if as_base64:
            return base64.b64encode(raw).decode()
        return raw.hex().upper() if upper else raw.hex()

    sent = {"hashAlgorithm": algorithm.value.lower() if upper else algorithm.value,
            "issuerNameHash": enc(name), "issuerKeyHash": enc(key),
            "serialNumber": canonical.serial_number.upper() if upper else canonical.serial_number}
    assert parse_hash_data(sent)[0] == canonical
    assert parse_hash_data(canonical.to_ocpp())[0] == canonical


def test_base64_that_starts_like_a_hex_prefix():
    # Found by hypothesis: base64 text may begin with "0x"; that must not be stripped.
    digest = b"\xd3\x10" + bytes(30)
    text = base64.b64encode(digest).decode()
    assert text.startswith("0x")
    data = {"hashAlgorithm": "SHA256", "issuerNameHash": text, "issuerKeyHash": text,
            "serialNumber": "0x1f"}
    assert parse_hash_data(data)[0] == CertificateHashData(HashAlgorithm.SHA256, digest.hex(),
                                                           digest.hex(), "1f")

"""CertificateHashData (OCPP) / CertID (RFC 6960): compute, parse what chargers send, match.

issuerNameHash = hash of the DER of the certificate's issuer Name; issuerKeyHash = hash of the
issuer public key's BIT STRING value (no tag, length or unused-bits byte); serialNumber = hex
without leading zeros. We emit lowercase hex; we accept hex of either case, base64, and (since
some chargers do it) a decimal serial number.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any

from asn1crypto import keys as asn1_keys
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .errors import HashDataError
from .hierarchy import find_issuer
from .store import CertificateRecord, CertificateStore, load_record_certificate, serial_hex


class HashAlgorithm(StrEnum):
    """OCPP HashAlgorithmEnumType."""

    SHA256 = "SHA256"
    SHA384 = "SHA384"
    SHA512 = "SHA512"

    @property
    def hashlib_name(self) -> str:
        return self.value.lower()

    @property
    def digest_size(self) -> int:
        return hashlib.new(self.hashlib_name).digest_size


#: CertID hash algorithms an OCSP peer may use; OCPP only has the SHA-2 ones, OCSP tools
#: (openssl's default) still send SHA-1 CertIDs, which the responder must answer.
CERT_ID_ALGORITHMS = ("sha1", "sha256", "sha384", "sha512")


@dataclass(frozen=True)
class CertId:
    """RFC 6960 CertID in binary form; ``algorithm`` is a hashlib name."""

    algorithm: str
    issuer_name_hash: bytes
    issuer_key_hash: bytes
    serial_number: int

    def cache_key(self) -> tuple[str, bytes, bytes, int]:
        return (self.algorithm, self.issuer_name_hash, self.issuer_key_hash, self.serial_number)


def public_key_bits(certificate: x509.Certificate) -> bytes:
    """The subjectPublicKey BIT STRING value, exactly as encoded in the certificate."""
    spki = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return _spki_bits(spki)


def _spki_bits(spki_der: bytes) -> bytes:
    bit_string = asn1_keys.PublicKeyInfo.load(spki_der)["public_key"]
    return bytes(bit_string.contents[1:])  # first content byte = number of unused bits


@lru_cache(maxsize=1024)
def _issuer_hashes(issuer: x509.Certificate, algorithm: str) -> tuple[bytes, bytes]:
    # Cached per issuer: validation computes the CertID of every chain element on every call.
    name_hash = hashlib.new(algorithm, issuer.subject.public_bytes()).digest()
    key_hash = hashlib.new(algorithm, public_key_bits(issuer)).digest()
    return name_hash, key_hash


@lru_cache(maxsize=8192)
def compute_cert_id(certificate: x509.Certificate, issuer: x509.Certificate,
                    algorithm: str = "sha256") -> CertId:
    # Cached: certificates hash and compare by their DER, so a chain parsed again on the next
    # validation hits the cache; CertId is immutable.
    if algorithm not in CERT_ID_ALGORITHMS:
        raise ValueError(f"unsupported CertID hash {algorithm}")
    # The issuer *name* hash is of the certificate's issuer field, which equals issuer.subject
    # for a genuine issuer; hashing the certificate's own field keeps us exact even if not.
    name_hash = hashlib.new(algorithm, certificate.issuer.public_bytes()).digest()
    _, key_hash = _issuer_hashes(issuer, algorithm)
    return CertId(algorithm, name_hash, key_hash, certificate.serial_number)


@dataclass(frozen=True)
class CertificateHashData:
    hash_algorithm: HashAlgorithm
    issuer_name_hash: str
    issuer_key_hash: str
    serial_number: str

    def to_ocpp(self) -> dict[str, str]:
        return {
            "hashAlgorithm": self.hash_algorithm.value,
            "issuerNameHash": self.issuer_name_hash,
            "issuerKeyHash": self.issuer_key_hash,
            "serialNumber": self.serial_number,
        }

    def cert_id(self) -> CertId:
        return CertId(self.hash_algorithm.hashlib_name, bytes.fromhex(self.issuer_name_hash),
                      bytes.fromhex(self.issuer_key_hash), int(self.serial_number, 16))

    @classmethod
    def from_cert_id(cls, cert_id: CertId) -> CertificateHashData:
        return cls(HashAlgorithm(cert_id.algorithm.upper()), cert_id.issuer_name_hash.hex(),
                   cert_id.issuer_key_hash.hex(), serial_hex(cert_id.serial_number))


def compute_hash_data(certificate: x509.Certificate, issuer: x509.Certificate,
                      algorithm: HashAlgorithm | str = HashAlgorithm.SHA256
                      ) -> CertificateHashData:
    alg = parse_algorithm(algorithm)
    return CertificateHashData.from_cert_id(compute_cert_id(certificate, issuer,
                                                            alg.hashlib_name))


# -- parsing what chargers send ---------------------------------------------------------------

_HEX = re.compile(r"^[0-9a-fA-F]+$")


def parse_algorithm(value: Any) -> HashAlgorithm:
    text = str(value or "").upper().replace("-", "").replace("_", "").strip()
    try:
        return HashAlgorithm(text)
    except ValueError:
        raise HashDataError("hash_algorithm_unsupported",
                            f"hashAlgorithm {value!r} is not SHA256, SHA384 or SHA512") from None


def _clean(value: Any) -> str:
    text = str(value).strip().replace(":", "").replace(" ", "")
    if text[:2].lower() == "0x" and _HEX.match(text[2:]):  # base64 may start with "0x" too
        text = text[2:]
    return text


def _b64(text: str) -> bytes | None:
    padded = text + "=" * (-len(text) % 4)
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            return decode(padded.encode())
        except (binascii.Error, ValueError):
            continue
    return None


def parse_digest(value: Any, algorithm: HashAlgorithm, field_name: str) -> bytes:
    text = _clean(value or "")
    size = algorithm.digest_size
    if len(text) == 2 * size and _HEX.match(text):
        return bytes.fromhex(text)
    decoded = _b64(text)
    if decoded is not None and len(decoded) == size:
        return decoded
    raise HashDataError("hash_malformed",
                        f"{field_name} is neither hex nor base64 of a {size}-byte digest")


def parse_serial(value: Any) -> list[int]:
    """Candidate serial numbers, most likely first: hex, then decimal, then base64."""
    text = _clean(value if value is not None else "")
    out: list[int] = []
    if text and _HEX.match(text):
        out.append(int(text, 16))
        if text.isdigit():
            out.append(int(text, 10))
    decoded = _b64(text) if text and len(text) % 4 in (0, 2, 3) else None
    if decoded:
        out.append(int.from_bytes(decoded, "big"))
    unique = list(dict.fromkeys(n for n in out if n > 0))
    if not unique:
        raise HashDataError("serial_malformed", f"serialNumber {value!r} cannot be read")
    return unique


def parse_hash_data(data: Mapping[str, Any]) -> list[CertificateHashData]:
    """Normalised interpretations of an OCPP CertificateHashData object, most likely first."""
    missing = [k for k in ("hashAlgorithm", "issuerNameHash", "issuerKeyHash", "serialNumber")
               if data.get(k) in (None, "")]
    if missing:
        raise HashDataError("hash_data_incomplete", "missing " + ", ".join(missing))
    alg = parse_algorithm(data["hashAlgorithm"])
    name_hash = parse_digest(data["issuerNameHash"], alg, "issuerNameHash").hex()
    key_hash = parse_digest(data["issuerKeyHash"], alg, "issuerKeyHash").hex()
    return [CertificateHashData(alg, name_hash, key_hash, serial_hex(n))
            for n in parse_serial(data["serialNumber"])]


def hash_data_matches(a: Mapping[str, Any] | CertificateHashData,
                      b: Mapping[str, Any] | CertificateHashData) -> bool:
    """True if two hash data denote the same certificate, whatever their encodings."""
    left = [a] if isinstance(a, CertificateHashData) else parse_hash_data(a)
    right = [b] if isinstance(b, CertificateHashData) else parse_hash_data(b)
    return any(x == y for x in left for y in right)


async def find_certificate_by_hash(store: CertificateStore,
                                   data: Mapping[str, Any] | CertificateHashData,
                                   *, role: str | None = None) -> CertificateRecord | None:
    """The stored certificate a CertificateHashData refers to, or None."""
    candidates = [data] if isinstance(data, CertificateHashData) else parse_hash_data(data)
    for candidate in candidates:
        records = await store.find_certificates(
            serial=candidate.serial_number, role=role,
            issuer_name_sha256=(candidate.issuer_name_hash
                                if candidate.hash_algorithm is HashAlgorithm.SHA256 else None),
        )
        for record in records:
            certificate = load_record_certificate(record)
            issuer = await find_issuer(store, certificate)
            if issuer is None:
                continue
            if compute_hash_data(certificate, issuer, candidate.hash_algorithm) == candidate:
                return record
    return None

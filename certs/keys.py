"""Key types allowed by the profiles, key generation, and the on-disk key store.

Private keys live only in files with mode 0600 inside a 0700 directory, named by the SHA-256
fingerprint of the certificate they belong to, so a CA certificate found in the store leads to its
key without any extra index. Nothing here logs or returns key material in text form.
"""

from __future__ import annotations

import logging
import os
import tempfile
from enum import StrEnum
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, rsa

from .errors import ImportRejected

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed448.Ed448PrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed448.Ed448PublicKey

MIN_RSA_BITS = 2048

log = logging.getLogger(__name__)


class KeyType(StrEnum):
    P256 = "P-256"
    P384 = "P-384"
    RSA = "RSA"
    # ISO 15118-20: ECDSA secp521r1 (SHA-512) and Ed448 (PureEdDSA).
    P521 = "P-521"
    ED448 = "Ed448"


def key_type(public_key: object) -> KeyType | None:
    """Classify a public key; None for anything the profiles never allow (other curves, DSA...)."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if isinstance(public_key.curve, ec.SECP256R1):
            return KeyType.P256
        if isinstance(public_key.curve, ec.SECP384R1):
            return KeyType.P384
        if isinstance(public_key.curve, ec.SECP521R1):
            return KeyType.P521
        return None
    if isinstance(public_key, rsa.RSAPublicKey):
        return KeyType.RSA
    if isinstance(public_key, ed448.Ed448PublicKey):
        return KeyType.ED448
    return None


def describe_key(public_key: object) -> str:
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return f"EC {public_key.curve.name}"
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"RSA {public_key.key_size}"
    if isinstance(public_key, ed448.Ed448PublicKey):
        return "Ed448"
    return type(public_key).__name__


def generate_key(kind: KeyType = KeyType.P256) -> PrivateKey:
    if kind is KeyType.P256:
        return ec.generate_private_key(ec.SECP256R1())
    if kind is KeyType.P384:
        return ec.generate_private_key(ec.SECP384R1())
    if kind is KeyType.P521:
        return ec.generate_private_key(ec.SECP521R1())
    if kind is KeyType.ED448:
        return ed448.Ed448PrivateKey.generate()
    return rsa.generate_private_key(public_exponent=65537, key_size=3072)


def signature_hash(key: PrivateKey | PublicKey) -> hashes.HashAlgorithm | None:
    """The hash a CA key signs with: matched to the curve strength, SHA-256 for P-256 and RSA;
    None for Ed448 (PureEdDSA hashes internally)."""
    if isinstance(key, ed448.Ed448PrivateKey | ed448.Ed448PublicKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        if isinstance(key.curve, ec.SECP384R1):
            return hashes.SHA384()
        if isinstance(key.curve, ec.SECP521R1):
            return hashes.SHA512()
    return hashes.SHA256()


def public_key_der(key: PrivateKey | PublicKey) -> bytes:
    public = key.public_key() if hasattr(key, "private_bytes") else key
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_private_key(data: bytes, passphrase: str | None) -> PrivateKey:
    """Load a PEM or DER private key (PKCS#8, encrypted or not), with clear rejection reasons."""
    password = passphrase.encode() if passphrase is not None else None
    loaders = (serialization.load_pem_private_key, serialization.load_der_private_key)
    if data.lstrip().startswith(b"-----"):
        loaders = loaders[:1]
    else:
        loaders = loaders[1:]
    try:
        key = loaders[0](data, password=password)
    except TypeError as exc:
        # cryptography raises TypeError for "password given but key not encrypted" and vice versa.
        if password is None:
            raise ImportRejected("key_passphrase_missing",
                                 "the key is encrypted and no passphrase is configured") from exc
        raise ImportRejected("key_not_encrypted",
                             "the key is not encrypted; expected encrypted PKCS#8") from exc
    except ValueError as exc:
        if password is not None:
            raise ImportRejected("key_bad_passphrase",
                                 "the key could not be decrypted with the configured passphrase"
                                 ) from exc
        raise ImportRejected("key_malformed", "the key could not be parsed") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
                      | ed448.Ed448PrivateKey):
        raise ImportRejected("key_type_not_allowed", f"unsupported key type {type(key).__name__}")
    return key


def is_encrypted_pem(data: bytes) -> bool:
    return b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in data


class KeyStore:
    """CA private keys on disk, one PKCS#8 PEM file per certificate fingerprint."""

    def __init__(self, directory: Path | str, passphrase: str | None = None) -> None:
        self.directory = Path(directory)
        self._passphrase = passphrase

    def __repr__(self) -> str:  # never show the passphrase
        return f"KeyStore({str(self.directory)!r})"

    def path_for(self, fingerprint: str) -> Path:
        if not fingerprint or not all(c in "0123456789abcdef" for c in fingerprint):
            raise ValueError("fingerprint must be lowercase hex")
        return self.directory / f"{fingerprint}.key.pem"

    def has(self, fingerprint: str) -> bool:
        return self.path_for(fingerprint).is_file()

    def save(self, fingerprint: str, key: PrivateKey) -> Path:
        """Write atomically with mode 0600; encrypted when a passphrase is configured."""
        if not self.directory.exists():
            self.directory.mkdir(parents=True, mode=0o700)
            os.chmod(self.directory, 0o700)  # mkdir's mode is filtered by the umask
        elif self.directory.stat().st_mode & 0o077:
            # Not ours to chmod (a misconfigured key_dir could be a shared directory); the key
            # files themselves are 0600 regardless.
            log.warning("key directory %s is accessible to other users", self.directory)
        encryption: serialization.KeySerializationEncryption
        if self._passphrase:
            encryption = serialization.BestAvailableEncryption(self._passphrase.encode())
        else:
            encryption = serialization.NoEncryption()
        data = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )
        target = self.path_for(fingerprint)
        # mkstemp creates the file 0600 from the start: the key is never readable by others,
        # not even between write and rename.
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".key-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    def load(self, fingerprint: str) -> PrivateKey | None:
        path = self.path_for(fingerprint)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        return load_private_key(data, self._passphrase if is_encrypted_pem(data) else None)

    def fingerprints(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(p.name.removesuffix(".key.pem") for p in self.directory.glob("*.key.pem"))

"""OCSP responder for the hub's own CAs, as an aiohttp handler / app.

Answers are signed by the issuing CA itself or, when one exists, by a delegated OCSP signing
certificate that CA issued (EKU OCSPSigning, ocsp-nocheck). Status comes from the store: a
certificate we issued is good until revoked; a serial we never issued is "unknown".
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from .hashdata import CERT_ID_ALGORITHMS, public_key_bits
from .hierarchy import SigningAuthority, load_authority
from .keys import KeyStore, PrivateKey, signature_hash
from .roles import ANCHOR_ROLES, CertificateRole
from .settings import PkiSettings
from .store import CertificateStore, load_record_certificate, serial_hex, sha256_hex

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 16 * 1024
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
#: Roles of CAs that issue certificates the responder may be asked about.
CA_ROLES = tuple(ANCHOR_ROLES) + (
    CertificateRole.CPO_SUB_CA1, CertificateRole.CPO_SUB_CA2, CertificateRole.MO_SUB_CA1,
    CertificateRole.MO_SUB_CA2, CertificateRole.OEM_SUB_CA1, CertificateRole.OEM_SUB_CA2,
)


@dataclass(frozen=True)
class ResponderIdentity:
    """One CA we answer for, and who signs its answers (the CA or its delegated signer)."""

    ca: x509.Certificate
    signer: x509.Certificate
    signer_key: PrivateKey = field(repr=False)
    hashes: dict[str, tuple[bytes, bytes]] = field(default_factory=dict, repr=False)

    @classmethod
    def create(cls, ca: x509.Certificate, signer: x509.Certificate,
               signer_key: PrivateKey) -> ResponderIdentity:
        bits = public_key_bits(ca)
        table = {
            alg: (hashlib.new(alg, ca.subject.public_bytes()).digest(),
                  hashlib.new(alg, bits).digest())
            for alg in CERT_ID_ALGORITHMS
        }
        return cls(ca, signer, signer_key, table)

    @property
    def subject_sha256(self) -> str:
        return sha256_hex(self.ca.subject.public_bytes())

    def key_identifier(self) -> bytes | None:
        try:
            return self.ca.extensions.get_extension_for_class(
                x509.SubjectKeyIdentifier).value.digest
        except x509.ExtensionNotFound:
            return None


def _unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(
        serialization.Encoding.DER)


class OcspResponder:
    def __init__(self, store: CertificateStore, identities: list[ResponderIdentity], *,
                 validity_seconds: int = 3600,
                 clock: Callable[[], dt.datetime] | None = None) -> None:
        self.store = store
        self.identities = identities
        self.validity = dt.timedelta(seconds=validity_seconds)
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))

    @classmethod
    async def from_store(cls, store: CertificateStore, keystore: KeyStore,
                         settings: PkiSettings, *, clock: Callable[[], dt.datetime] | None = None,
                         ) -> OcspResponder:
        """Answer for every CA whose key we hold; prefer a valid delegated signer if present."""
        now = (clock or (lambda: dt.datetime.now(dt.UTC)))()
        authorities: list[SigningAuthority] = []
        for role in CA_ROLES:
            authority = await load_authority(store, keystore, role, now=now)
            if authority is not None:
                authorities.append(authority)
        signers = []
        for record in await store.find_certificates(role=str(CertificateRole.OCSP_SIGNER)):
            if record.revoked_at is None and record.not_before <= now < record.not_after:
                key = keystore.load(record.fingerprint)
                if key is not None:
                    signers.append((load_record_certificate(record), key))
        identities = []
        for authority in authorities:
            signer, signer_key = authority.certificate, authority.key
            for cert, key in reversed(signers):  # store order is by not_after: longest-lived first
                try:
                    cert.verify_directly_issued_by(authority.certificate)
                except (InvalidSignature, ValueError, TypeError):
                    continue
                signer, signer_key = cert, key
                break
            identities.append(ResponderIdentity.create(authority.certificate, signer,
                                                       signer_key))
        return cls(store, identities, validity_seconds=settings.ocsp_response_validity_seconds,
                   clock=clock)

    async def _status(self, identity: ResponderIdentity, serial: int
                      ) -> tuple[ocsp.OCSPCertStatus, dt.datetime | None, x509.ReasonFlags | None]:
        records = await self.store.find_certificates(serial=serial_hex(serial),
                                                     issuer_name_sha256=identity.subject_sha256)
        key_id = identity.key_identifier()
        for record in records:
            cert = load_record_certificate(record)
            # Same subject does not mean same CA (a rolled-over CA keeps its name): the AKI, or
            # failing that the signature, must point at this CA.
            try:
                aki = cert.extensions.get_extension_for_class(
                    x509.AuthorityKeyIdentifier).value.key_identifier
            except x509.ExtensionNotFound:
                aki = None
            if aki is not None and key_id is not None:
                if aki != key_id:
                    continue
            else:
                try:
                    cert.verify_directly_issued_by(identity.ca)
                except (InvalidSignature, ValueError, TypeError):
                    continue
            if record.revoked_at is not None:
                try:
                    reason = x509.ReasonFlags(record.revocation_reason or "unspecified")
                except ValueError:
                    reason = x509.ReasonFlags.unspecified
                return ocsp.OCSPCertStatus.REVOKED, record.revoked_at, reason
            return ocsp.OCSPCertStatus.GOOD, None, None
        return ocsp.OCSPCertStatus.UNKNOWN, None, None

    async def respond(self, request_der: bytes) -> bytes:
        """DER OCSPResponse for a DER OCSPRequest; never raises."""
        try:
            request = ocsp.load_der_ocsp_request(request_der)
            algorithm = request.hash_algorithm.name
        except Exception:  # malformed, several requests, unknown hash: all "malformed"
            return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        if algorithm not in _HASHES:
            return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        try:
            wanted = (request.issuer_name_hash, request.issuer_key_hash)
            identity = next((i for i in self.identities if i.hashes[algorithm] == wanted), None)
            if identity is None:
                return _unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
            status, revoked_at, reason = await self._status(identity, request.serial_number)
            now = self._clock().replace(microsecond=0)
            builder = (
                ocsp.OCSPResponseBuilder()
                .add_response_by_hash(
                    request.issuer_name_hash, request.issuer_key_hash, request.serial_number,
                    _HASHES[algorithm](), status, now, now + self.validity, revoked_at, reason,
                )
                .responder_id(ocsp.OCSPResponderEncoding.HASH, identity.signer)
                .certificates([identity.signer])
            )
            try:
                nonce = request.extensions.get_extension_for_class(x509.OCSPNonce).value
            except x509.ExtensionNotFound:
                nonce = None
            if nonce is not None:
                builder = builder.add_extension(nonce, critical=False)
            response = builder.sign(identity.signer_key, signature_hash(identity.signer_key))
            return response.public_bytes(serialization.Encoding.DER)
        except Exception:
            log.exception("OCSP responder failed")
            return _unsuccessful(ocsp.OCSPResponseStatus.INTERNAL_ERROR)

    # -- aiohttp ----------------------------------------------------------------------------

    def _reply(self, body: bytes, *, cacheable: bool) -> web.Response:
        headers = {}
        if cacheable:
            headers["Cache-Control"] = f"max-age={int(self.validity.total_seconds())}"
        return web.Response(body=body, content_type="application/ocsp-response",
                            headers=headers)

    async def handle_post(self, request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > MAX_REQUEST_BYTES:
            return self._reply(_unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST),
                               cacheable=False)
        body = await request.content.read(MAX_REQUEST_BYTES + 1)
        if len(body) > MAX_REQUEST_BYTES:
            return self._reply(_unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST),
                               cacheable=False)
        return self._reply(await self.respond(body), cacheable=False)

    async def handle_get(self, request: web.Request) -> web.Response:
        """RFC 6960 A.1: GET {url}/{url-encoding of base64 of the DER request}."""
        encoded = request.match_info.get("request", "")
        if len(encoded) > MAX_REQUEST_BYTES:
            return self._reply(_unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST),
                               cacheable=False)
        try:
            der = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=False)
        except (binascii.Error, ValueError):
            return self._reply(_unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST),
                               cacheable=False)
        return self._reply(await self.respond(der), cacheable=True)

    def routes(self, path: str = "/ocsp") -> list[web.RouteDef]:
        """Routes to mount in the hub's app: POST {path} and GET {path}/{request}."""
        base = path.rstrip("/")
        return [
            web.post(base or "/", self.handle_post),
            web.get(f"{base}/{{request:.+}}", self.handle_get),
        ]


def create_ocsp_app(responder: OcspResponder, path: str = "/ocsp") -> web.Application:
    """A standalone aiohttp application serving the responder (tests, separate listener)."""
    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    app.add_routes(responder.routes(path))
    return app

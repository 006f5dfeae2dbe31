"""OCSP client: asn1crypto builds the request, aiohttp POSTs it, and the answer is trusted only
after its signature and the responder's authorisation are verified. Answers are cached until
their nextUpdate. Responder URLs must be on an allow-list: a charger must not be able to make
the hub fetch arbitrary URLs (SSRF) by putting them into a certificate or a hash-data message.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import aiohttp
import yarl
from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from .errors import HashDataError, OcspError
from .hashdata import CertId, compute_cert_id, parse_hash_data, public_key_bits
from .keys import public_key_der
from .profiles import ocsp_urls
from .settings import PkiSettings

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 64 * 1024
#: Tolerated clock difference between us and a responder.
CLOCK_SKEW = dt.timedelta(minutes=5)
#: Cache time for answers without nextUpdate (RFC 6960: "newer information is always available").
NO_NEXT_UPDATE_CACHE = dt.timedelta(minutes=5)


class OcspCertStatus(StrEnum):
    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class OcspStatus:
    status: OcspCertStatus
    this_update: dt.datetime
    next_update: dt.datetime | None
    revoked_at: dt.datetime | None = None
    revocation_reason: str | None = None
    responder: str = ""
    #: The verified OCSPResponse as received (OCPP GetCertificateStatus returns it, base64).
    der: bytes = b""


class UrlAllowList:
    """Entries are URL prefixes: scheme, host and port must be equal, the path must start with
    the entry's path. URLs with credentials, other schemes, or dot segments never pass."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.entries = tuple(dict.fromkeys(e for e in entries if e))
        self._entries = [self._parse(e) for e in self.entries]

    @staticmethod
    def _parse(url: str) -> tuple[str, str, int | None, str]:
        u = yarl.URL(url)
        path = u.path if u.path.endswith("/") else u.path + "/"
        return (u.scheme.lower(), (u.host or "").lower(), u.port, path)

    def allows(self, url: str) -> bool:
        try:
            raw = yarl.URL(url)
        except (ValueError, TypeError):
            return False
        if raw.scheme.lower() not in {"http", "https"} or not raw.host:
            return False
        if raw.user is not None or raw.password is not None or raw.fragment:
            return False
        if any(seg in {".", ".."} for seg in str(url).split("?")[0].split("/")) or \
                "%2e" in url.lower():
            return False
        scheme, host, port, path = self._parse(url)
        full = yarl.URL(url).path
        return any(
            scheme == s and host == h and port == p and (full + "/").startswith(pp)
            for s, h, p, pp in self._entries
        )


def responder_urls(cas: Iterable[x509.Certificate]) -> dict[str, list[str]]:
    """The OCSP URLs named in the AIA of these CA certificates, each with the subjects of the
    CAs naming it: the responders a hub that trusts these CAs may contact."""
    urls: dict[str, list[str]] = {}
    for cert in cas:
        for url in ocsp_urls(cert):
            urls.setdefault(url, []).append(cert.subject.rfc4514_string())
    return urls


def build_request(cert_id: CertId) -> bytes:
    """DER OCSPRequest for one CertID, without nonce: cacheable answers are what we want."""
    request = asn1_ocsp.OCSPRequest({
        "tbs_request": {
            "request_list": [{
                "req_cert": {
                    "hash_algorithm": {"algorithm": cert_id.algorithm},
                    "issuer_name_hash": cert_id.issuer_name_hash,
                    "issuer_key_hash": cert_id.issuer_key_hash,
                    "serial_number": cert_id.serial_number,
                },
            }],
        },
    })
    return request.dump()


def _verify_signature(signer: x509.Certificate, response: ocsp.OCSPResponse) -> None:
    key = signer.public_key()
    algorithm = response.signature_hash_algorithm
    if algorithm is None:
        raise OcspError("response_signature_invalid", "unsupported OCSP signature algorithm")
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(response.signature, response.tbs_response_bytes, ec.ECDSA(algorithm))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(response.signature, response.tbs_response_bytes, padding.PKCS1v15(),
                       algorithm)
        else:
            raise OcspError("response_signature_invalid", "unsupported responder key type")
    except InvalidSignature:
        raise OcspError("response_signature_invalid",
                        "the OCSP response signature does not verify") from None


def _find_signer(response: ocsp.OCSPResponse,
                 candidates: list[x509.Certificate]) -> x509.Certificate:
    for cert in candidates:
        if response.responder_name is not None and cert.subject == response.responder_name:
            return cert
        if response.responder_key_hash is not None and \
                hashlib.sha1(public_key_bits(cert)).digest() == response.responder_key_hash:
            return cert
    raise OcspError("responder_unknown", "the response's signer certificate is not available")


def _authorise(signer: x509.Certificate, cert_id: CertId, issuer: x509.Certificate | None,
               now: dt.datetime) -> None:
    """RFC 6960 4.2.2.2: the signer is the issuing CA, or a certificate that CA issued with the
    id-kp-OCSPSigning EKU (a delegated responder)."""
    if issuer is not None and public_key_der(signer.public_key()) == \
            public_key_der(issuer.public_key()):
        return
    if issuer is None:
        name_hash = hashlib.new(cert_id.algorithm, signer.subject.public_bytes()).digest()
        key_hash = hashlib.new(cert_id.algorithm, public_key_bits(signer)).digest()
        if (name_hash, key_hash) == (cert_id.issuer_name_hash, cert_id.issuer_key_hash):
            return
        raise OcspError("responder_not_authorized",
                        "delegated OCSP signer cannot be checked without the issuer certificate")
    try:
        signer.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError):
        raise OcspError("responder_not_authorized",
                        "the OCSP signer is neither the issuer nor issued by it") from None
    try:
        eku = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        eku = None
    if eku is None or ExtendedKeyUsageOID.OCSP_SIGNING not in eku:
        raise OcspError("responder_not_authorized",
                        "the delegated OCSP signer lacks the OCSPSigning extended key usage")
    if not (signer.not_valid_before_utc - CLOCK_SKEW <= now <= signer.not_valid_after_utc):
        raise OcspError("responder_not_authorized", "the delegated OCSP signer is not valid now")


def verify_response(der: bytes, cert_id: CertId, issuer: x509.Certificate | None,
                    now: dt.datetime) -> OcspStatus:
    """Parse and check an OCSP response for ``cert_id``; raises OcspError on anything untrusted."""
    try:
        response = ocsp.load_der_ocsp_response(der)
    except ValueError as exc:
        raise OcspError("response_malformed", "the OCSP response could not be parsed") from exc
    if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise OcspError(f"responder_{response.response_status.name.lower()}",
                        f"the OCSP responder answered {response.response_status.name}")
    single = None
    for candidate in response.responses:
        if (candidate.hash_algorithm.name, candidate.issuer_name_hash,
                candidate.issuer_key_hash, candidate.serial_number) == cert_id.cache_key():
            single = candidate
            break
    if single is None:
        raise OcspError("response_cert_id_mismatch",
                        "the OCSP response does not answer for the certificate asked about")
    signer = _find_signer(response, list(response.certificates) + ([issuer] if issuer else []))
    _authorise(signer, cert_id, issuer, now)
    _verify_signature(signer, response)
    this_update = single.this_update_utc
    next_update = single.next_update_utc
    if this_update > now + CLOCK_SKEW:
        raise OcspError("response_not_yet_valid", "the OCSP response's thisUpdate is ahead")
    if next_update is not None and next_update < now - CLOCK_SKEW:
        raise OcspError("response_expired", "the OCSP response's nextUpdate has passed")
    status = {
        ocsp.OCSPCertStatus.GOOD: OcspCertStatus.GOOD,
        ocsp.OCSPCertStatus.REVOKED: OcspCertStatus.REVOKED,
        ocsp.OCSPCertStatus.UNKNOWN: OcspCertStatus.UNKNOWN,
    }[single.certificate_status]
    reason = single.revocation_reason
    return OcspStatus(
        status=status, this_update=this_update, next_update=next_update,
        revoked_at=single.revocation_time_utc,
        revocation_reason=reason.value if reason is not None else None,
        responder=signer.subject.rfc4514_string(), der=der,
    )


class _Transient(Exception):
    """A failure worth retrying: connection trouble, timeout, 5xx."""


class OcspClient:
    """Share one instance per process: the cache and the in-flight deduplication live here."""

    def __init__(self, *, allowed_urls: Iterable[str], session: aiohttp.ClientSession | None = None,
                 timeout_seconds: float = 5.0, attempts: int = 3,
                 cache_max_seconds: int = 86400, max_cache_entries: int = 100_000,
                 clock: Callable[[], dt.datetime] | None = None) -> None:
        self.allow_list = UrlAllowList(allowed_urls)
        self._session = session
        self._own_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._attempts = attempts
        self._cache_max = dt.timedelta(seconds=cache_max_seconds)
        self._max_entries = max_cache_entries
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._cache: dict[tuple[str, bytes, bytes, int], tuple[dt.datetime, OcspStatus]] = {}
        self._inflight: dict[tuple[str, bytes, bytes, int], asyncio.Future[OcspStatus]] = {}
        self.requests_sent = 0

    @classmethod
    def from_settings(cls, settings: PkiSettings,
                      session: aiohttp.ClientSession | None = None) -> OcspClient:
        return cls(allowed_urls=settings.allowed_ocsp_urls(), session=session,
                   timeout_seconds=settings.ocsp_timeout_seconds, attempts=settings.ocsp_attempts,
                   cache_max_seconds=settings.ocsp_cache_max_seconds)

    async def __aenter__(self) -> OcspClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    def allow(self, urls: Iterable[str]) -> None:
        """Replace the allow-list (e.g. after the trusted CAs changed)."""
        self.allow_list = UrlAllowList(urls)

    def cached(self, cert_id: CertId) -> OcspStatus | None:
        entry = self._cache.get(cert_id.cache_key())
        if entry is None:
            return None
        expires, status = entry
        if self._clock() >= expires:
            self._cache.pop(cert_id.cache_key(), None)
            return None
        return status

    def clear_cache(self) -> None:
        self._cache.clear()

    async def check(self, certificate: x509.Certificate, issuer: x509.Certificate, *,
                    url: str | None = None, algorithm: str = "sha256") -> OcspStatus:
        """Status of ``certificate``; ``url`` defaults to the certificate's AIA OCSP URL."""
        if url is None:
            urls = ocsp_urls(certificate)
            if not urls:
                raise OcspError("no_ocsp_url", "the certificate names no OCSP responder")
            url = urls[0]
        return await self.check_cert_id(compute_cert_id(certificate, issuer, algorithm), url,
                                        issuer=issuer)

    async def check_cert_id(self, cert_id: CertId, url: str, *,
                            issuer: x509.Certificate | None = None) -> OcspStatus:
        """Status for a CertID (e.g. from a charger's OCSPRequestData) at ``url``."""
        if not self.allow_list.allows(url):  # refused even when an answer is cached
            raise OcspError("url_not_allowed", f"OCSP responder URL {url!r} is not allowed")
        hit = self.cached(cert_id)
        if hit is not None:
            return hit
        key = cert_id.cache_key()
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[OcspStatus] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            status = await self._fetch(cert_id, url, issuer)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # mark as retrieved: there may be no other waiter
            raise
        else:
            future.set_result(status)
            self._store(cert_id, status)
            return status
        finally:
            self._inflight.pop(key, None)

    async def check_request_data(self, data: Mapping[str, Any], *,
                                 issuer: x509.Certificate | None = None) -> OcspStatus:
        """Status for an OCPP OCSPRequestData (hash data + responderURL) sent by a charger.
        The responderURL must be on the allow-list like any other."""
        url = data.get("responderURL")
        if not url:
            raise OcspError("no_ocsp_url", "OCSPRequestData has no responderURL")
        try:
            hash_data = parse_hash_data(data)[0]  # OCPP mandates hex: the first reading
        except HashDataError as exc:
            raise OcspError(exc.reason, exc.message) from exc
        return await self.check_cert_id(hash_data.cert_id(), str(url), issuer=issuer)

    def _store(self, cert_id: CertId, status: OcspStatus) -> None:
        now = self._clock()
        limit = now + self._cache_max
        expires = min(status.next_update, limit) if status.next_update else \
            min(now + NO_NEXT_UPDATE_CACHE, limit)
        if expires <= now:
            return
        if len(self._cache) >= self._max_entries:
            self._cache.pop(next(iter(self._cache)))  # oldest insertion first
        self._cache[cert_id.cache_key()] = (expires, status)

    async def _post(self, url: str, body: bytes) -> bytes:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        self.requests_sent += 1
        try:
            async with self._session.post(
                yarl.URL(url), data=body, timeout=self._timeout, allow_redirects=False,
                headers={"Content-Type": "application/ocsp-request"},
            ) as resp:
                if resp.status >= 500:
                    raise _Transient(f"HTTP {resp.status}")
                if resp.status != 200:
                    # Redirects included: following one could leave the allow-list.
                    raise OcspError(f"responder_http_{resp.status}",
                                    f"the OCSP responder answered HTTP {resp.status}")
                data = await resp.content.read(MAX_RESPONSE_BYTES + 1)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _Transient(f"{type(exc).__name__}: {exc}") from exc
        if len(data) > MAX_RESPONSE_BYTES:
            raise OcspError("response_too_large", "the OCSP response exceeds 64 KiB")
        return data

    async def _fetch(self, cert_id: CertId, url: str,
                     issuer: x509.Certificate | None) -> OcspStatus:
        body = build_request(cert_id)
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self._attempts),
                wait=wait_exponential(multiplier=0.05, max=1.0),
                retry=retry_if_exception_type(_Transient), reraise=True,
            ):
                with attempt:
                    data = await self._post(url, body)
        except _Transient as exc:
            raise OcspError("responder_unreachable",
                            f"OCSP responder {url} failed after {self._attempts} attempt(s): "
                            f"{exc}") from exc
        return verify_response(data, cert_id, issuer, self._clock())

"""Open Plug&Charge root certificate pool (RCP) client: ``GET {rcp_url}/v1/root/rootCerts
?rootType=v2g|mo`` with the OPCP OAuth2 bearer token, answered with
``RootCertificateCollection.rootCertificates[]`` (``rootType``, ``caCertificate`` = base64 DER,
informative fields such as ``rootCertificateId`` and ``fingerprint``).

The pool is trusted for *which* roots exist, not for their bytes' meaning: every entry must be a
self-signed CA certificate whose signature verifies, and whose SHA-256 matches the informative
fingerprint when one is given. An entry that fails is skipped and logged; a failed request (after
tenacity's retries) fails the whole read, so that a pool outage never looks like "no roots".
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from certs.store import fingerprint_of
from pnc.opcp import OpcpError, SessionGetter, TokenProvider, authorised_headers

log = logging.getLogger(__name__)

#: The RCP's rootType query values.
QUERY_TYPES = {"V2G": "v2g", "MO": "mo"}


@dataclass(frozen=True)
class PoolRoot:
    root_type: str
    certificate: x509.Certificate
    fingerprint: str
    root_certificate_id: str | None = None


class _Transient(Exception):
    pass


def parse_root(entry: Any, root_type: str) -> PoolRoot:
    """One ``RootCertV2`` entry, checked; ValueError says why it is unusable."""
    if not isinstance(entry, dict):
        raise ValueError("not an object")
    if entry.get("rootType") != root_type:
        raise ValueError(f"rootType {entry.get('rootType')!r}, asked for {root_type}")
    try:
        der = base64.b64decode(str(entry.get("caCertificate") or ""), validate=True)
        certificate = x509.load_der_x509_certificate(der)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("caCertificate is not a base64 DER certificate") from exc
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise ValueError("not a CA certificate")
    try:
        certificate.verify_directly_issued_by(certificate)
    except (InvalidSignature, ValueError, TypeError) as exc:
        raise ValueError("not a self-signed root (its signature does not verify)") from exc
    fingerprint = fingerprint_of(certificate)
    claimed = entry.get("fingerprint")
    if claimed and str(claimed).lower().replace(":", "") != fingerprint:
        raise ValueError("its SHA-256 differs from the pool's fingerprint")
    root_id = entry.get("rootCertificateId")
    return PoolRoot(root_type, certificate, fingerprint, str(root_id) if root_id else None)


class RootCertificatePool:
    def __init__(self, session: SessionGetter, base_url: str, tokens: TokenProvider | None, *,
                 timeout: float = 10.0, attempts: int = 3) -> None:
        self._session = session
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._attempts = attempts
        self.requests = 0

    async def roots(self, root_type: str) -> list[PoolRoot]:
        """The pool's usable roots of ``root_type`` ("V2G" or "MO"); raises OpcpError."""
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(_Transient), stop=stop_after_attempt(self._attempts),
                wait=wait_exponential(multiplier=0.2, max=5.0), reraise=True,
            ):
                with attempt:
                    data = await self._get(root_type)
        except _Transient as exc:
            raise OpcpError("rcp_unavailable", str(exc), transient=True) from None
        try:
            entries = data["RootCertificateCollection"]["rootCertificates"]
        except (KeyError, TypeError):
            raise OpcpError("rcp_malformed", "the answer has no "
                            "RootCertificateCollection.rootCertificates") from None
        if not isinstance(entries, list):
            raise OpcpError("rcp_malformed", "rootCertificates is not a list")
        roots = []
        for entry in entries:
            try:
                roots.append(parse_root(entry, root_type))
            except ValueError as exc:
                log.warning("RCP %s root %s skipped: %s", root_type,
                            entry.get("rootCertificateId") if isinstance(entry, dict) else "?",
                            exc)
        return roots

    async def _get(self, root_type: str) -> Any:
        url = f"{self.base_url}/v1/root/rootCerts"
        for retry_auth in (True, False):
            self.requests += 1
            try:
                async with self._session().get(
                    url, params={"rootType": QUERY_TYPES[root_type]}, timeout=self._timeout,
                    headers=await authorised_headers(self.tokens), allow_redirects=False,
                ) as resp:
                    status = resp.status
                    data = await resp.json(content_type=None) if status == 200 else None
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise _Transient(f"RCP request failed: {exc!r}") from exc
            except ValueError as exc:
                raise OpcpError("rcp_malformed", "the RCP answer is not JSON") from exc
            if status == 401 and retry_auth and self.tokens is not None:
                self.tokens.invalidate()
                continue
            break
        if status >= 500 or status == 429:
            raise _Transient(f"RCP answered {status}")
        if status != 200:
            raise OpcpError("rcp_refused", f"RCP answered {status}", status=status)
        return data

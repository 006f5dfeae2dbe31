"""Which OCSP responders the hub may contact: the explicit ``[pki] ocsp_allowed_urls`` (and the
hub's own ``ocsp_url``), plus, unless ``ocsp_allow_trusted_aia = false``, the OCSP URLs in the
AIA of every root and sub-CA that chains to a trust anchor the hub holds (not revoked). So
Hubject-issued contracts are checked out of the box once Hubject's roots and sub-CAs are
trusted, while a URL that only a charger's message or an untrusted certificate names is still
refused (no SSRF). Rebuilt whenever the trusted CAs change (``Pnc.reload_pki``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography import x509

from certs.hierarchy import issuer_chain
from certs.ocsp_client import UrlAllowList, responder_urls
from certs.ocsp_responder import CA_ROLES
from certs.store import fingerprint_of, load_record_certificate

if TYPE_CHECKING:
    from pnc.runtime import Pnc

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OcspAllowList:
    urls: tuple[str, ...]
    #: responder URL -> the trusted CAs naming it, for the URLs that are *not* allowed.
    refused: dict[str, list[str]]


async def trusted_cas(pnc: Pnc, anchors: Iterable[x509.Certificate]) -> list[x509.Certificate]:
    """Every CA in the store that is not revoked and chains to one of ``anchors``."""
    anchor_prints = {fingerprint_of(a) for a in anchors}
    out = []
    for role in CA_ROLES:
        for record in await pnc.store.find_certificates(role=str(role)):
            if record.revoked_at is not None:
                continue
            cert = load_record_certificate(record)
            path = [cert, *await issuer_chain(pnc.store, cert)]
            if fingerprint_of(path[-1]) in anchor_prints:
                out.append(cert)
    return out


async def build(pnc: Pnc, anchors: Iterable[x509.Certificate]) -> OcspAllowList:
    explicit = pnc.pki.allowed_ocsp_urls()
    named = responder_urls(await trusted_cas(pnc, anchors))
    derived = tuple(named) if pnc.pki.ocsp_allow_trusted_aia else ()
    allowed = UrlAllowList([*explicit, *derived])
    refused = {url: cas for url, cas in named.items() if not allowed.allows(url)}
    return OcspAllowList(allowed.entries, refused)


def warn(allow: OcspAllowList) -> None:
    """Name each trusted chain whose responder the hub will refuse to ask."""
    for url, cas in sorted(allow.refused.items()):
        log.warning("OCSP responder %s of trusted CA(s) %s is not allowed: certificates "
                    "checked there fail (add it to [pki] ocsp_allowed_urls, or set "
                    "ocsp_allow_trusted_aia = true)", url, "; ".join(cas))

"""Lifecycle: what expires soon, and revocation (recorded in the store, served by the responder)."""

from __future__ import annotations

import datetime as dt
import logging
import re

from cryptography import x509

from .errors import PkiError
from .roles import ANCHOR_ROLES
from .store import CertificateRecord, CertificateStore, serial_hex

log = logging.getLogger(__name__)

_REASONS = {flag.value.lower(): flag.value for flag in x509.ReasonFlags}
_REASONS.update({flag.name.replace("_", "").lower(): flag.value for flag in x509.ReasonFlags})


def normalise_reason(reason: str) -> str:
    """'key_compromise', 'keyCompromise', 'KEYCOMPROMISE' -> 'keyCompromise' (RFC 5280 name)."""
    key = reason.replace("_", "").replace("-", "").lower()
    try:
        return _REASONS[key]
    except KeyError:
        raise PkiError("revocation_reason_unknown",
                       f"unknown revocation reason {reason!r}; one of "
                       + ", ".join(sorted(set(_REASONS.values())))) from None


def normalise_serial(serial: str) -> str:
    """A serial as ``list`` prints it (hex) or with colons / 0x / upper case."""
    text = serial.strip().lower().replace(":", "")
    text = text.removeprefix("0x")
    if not text or not re.fullmatch(r"[0-9a-f]+", text):
        raise PkiError("serial_malformed", f"{serial!r} is not a hexadecimal serial number")
    return serial_hex(int(text, 16))


async def expiring_certificates(store: CertificateStore, within_days: int, *,
                                role: str | None = None, now: dt.datetime | None = None,
                                include_revoked: bool = False) -> list[CertificateRecord]:
    """Certificates whose notAfter falls before now + ``within_days`` (already expired ones
    included: they need renewing just as much), soonest first."""
    moment = now or dt.datetime.now(dt.UTC)
    records = await store.find_certificates(
        role=role, not_after_before=moment + dt.timedelta(days=within_days))
    return [r for r in records if include_revoked or r.revoked_at is None]


async def revoke(store: CertificateStore, serial_or_fingerprint: str, *,
                 reason: str = "unspecified", now: dt.datetime | None = None
                 ) -> CertificateRecord:
    """Revoke one certificate the hub holds (not a trust anchor: those are removed instead)."""
    reason_value = normalise_reason(reason)
    text = serial_or_fingerprint.strip().lower()
    if re.fullmatch(r"[0-9a-f]{64}", text) and (record := await store.get_certificate(text)):
        candidates = [record]
    else:
        candidates = list(await store.find_certificates(serial=normalise_serial(text)))
    candidates = [r for r in candidates if r.role not in ANCHOR_ROLES]
    if not candidates:
        raise PkiError("certificate_not_found",
                       f"no revocable certificate with serial {serial_or_fingerprint}")
    if len(candidates) > 1:
        raise PkiError("serial_ambiguous",
                       "several certificates have this serial; give the fingerprint: "
                       + ", ".join(r.fingerprint for r in candidates))
    record = candidates[0]
    await store.revoke_certificate(record.fingerprint,
                                   revoked_at=(now or dt.datetime.now(dt.UTC)).replace(
                                       microsecond=0),
                                   reason=reason_value)
    log.info("revoked certificate serial %s (%s), reason %s", record.serial, record.subject,
             reason_value)
    updated = await store.get_certificate(record.fingerprint)
    assert updated is not None
    return updated

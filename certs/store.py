"""Where certificates live: the storage interface the hub implements on its database, plus an
in-memory store and a file store for the standalone CLI and the tests.

The interface speaks plain types only (DER bytes, str, datetime): the hub implements it on its
SQLAlchemy models *without importing this package*; structural typing (``typing.Protocol``) is
what ties the two together. Private keys are not stored here (see ``keys.KeyStore``).

Conventions every implementation must keep:
- ``fingerprint``: lowercase hex SHA-256 of the DER; unique key.
- ``serial``: lowercase hex, no leading zeros (the form CertificateHashData uses).
- ``subject_name_sha256`` / ``issuer_name_sha256``: lowercase hex SHA-256 of the DER-encoded
  Name. The issuer one equals OCPP's issuerNameHash for SHA256, so lookups need no recomputation.
- datetimes are timezone-aware UTC.
- ``role``: a ``CertificateRole`` value; ``revocation_reason``: an RFC 5280 reason name as in
  ``cryptography.x509.ReasonFlags`` values (e.g. "keyCompromise").
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from cryptography import x509
from cryptography.hazmat.primitives import serialization


@runtime_checkable
class CertificateRecord(Protocol):
    """A stored certificate as the store hands it back (an ORM row fits as it is)."""

    @property
    def fingerprint(self) -> str: ...
    @property
    def der(self) -> bytes: ...
    @property
    def role(self) -> str: ...
    @property
    def serial(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def subject_name_sha256(self) -> str: ...
    @property
    def issuer_name_sha256(self) -> str: ...
    @property
    def not_before(self) -> dt.datetime: ...
    @property
    def not_after(self) -> dt.datetime: ...
    @property
    def station_id(self) -> str | None: ...
    @property
    def revoked_at(self) -> dt.datetime | None: ...
    @property
    def revocation_reason(self) -> str | None: ...


@runtime_checkable
class CertificateStore(Protocol):
    """Async storage of certificates, trust anchors and revocations."""

    async def add_certificate(
        self,
        *,
        fingerprint: str,
        der: bytes,
        role: str,
        serial: str,
        subject: str,
        subject_name_sha256: str,
        issuer_name_sha256: str,
        not_before: dt.datetime,
        not_after: dt.datetime,
        station_id: str | None = None,
    ) -> bool:
        """Insert; True if new. An existing fingerprint is left unchanged (False)."""
        ...

    async def get_certificate(self, fingerprint: str) -> CertificateRecord | None: ...

    async def find_certificates(
        self,
        *,
        role: str | None = None,
        serial: str | None = None,
        subject_name_sha256: str | None = None,
        issuer_name_sha256: str | None = None,
        station_id: str | None = None,
        not_after_before: dt.datetime | None = None,
    ) -> Sequence[CertificateRecord]:
        """All records matching every given filter (AND), ordered by not_after ascending."""
        ...

    async def revoke_certificate(
        self, fingerprint: str, *, revoked_at: dt.datetime, reason: str
    ) -> bool:
        """Mark revoked; False if unknown. Revoking twice keeps the first time and reason."""
        ...

    async def delete_certificate(self, fingerprint: str) -> bool: ...

    async def station_identities(self, station_id: str) -> Sequence[str] | None:
        """The names the operator provisioned for a station (its id, SECC IDs, EvseIDs of its
        ports), None if unknown. Never what the station reports about itself.

        The issuer uses them to check that a V2G CSR's CN belongs to the station asking.
        """
        ...


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fingerprint_of(certificate: x509.Certificate) -> str:
    return sha256_hex(certificate.public_bytes(serialization.Encoding.DER))


def serial_hex(serial: int) -> str:
    return format(serial, "x")


def record_fields(certificate: x509.Certificate, role: str,
                  station_id: str | None = None) -> dict[str, Any]:
    """The keyword arguments of ``add_certificate`` for a certificate."""
    der = certificate.public_bytes(serialization.Encoding.DER)
    return {
        "fingerprint": sha256_hex(der),
        "der": der,
        "role": str(role),
        "serial": serial_hex(certificate.serial_number),
        "subject": certificate.subject.rfc4514_string(),
        "subject_name_sha256": sha256_hex(certificate.subject.public_bytes()),
        "issuer_name_sha256": sha256_hex(certificate.issuer.public_bytes()),
        "not_before": certificate.not_valid_before_utc,
        "not_after": certificate.not_valid_after_utc,
        "station_id": station_id,
    }


async def record_certificate(store: CertificateStore, certificate: x509.Certificate, role: str,
                             station_id: str | None = None) -> str:
    fields = record_fields(certificate, role, station_id)
    await store.add_certificate(**fields)
    return fields["fingerprint"]


def load_record_certificate(record: CertificateRecord) -> x509.Certificate:
    return x509.load_der_x509_certificate(bytes(record.der))


@dataclass(frozen=True)
class StoredCertificate:
    fingerprint: str
    der: bytes
    role: str
    serial: str
    subject: str
    subject_name_sha256: str
    issuer_name_sha256: str
    not_before: dt.datetime
    not_after: dt.datetime
    station_id: str | None = None
    revoked_at: dt.datetime | None = None
    revocation_reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["der"] = base64.b64encode(self.der).decode()
        for key in ("not_before", "not_after", "revoked_at"):
            if data[key] is not None:
                data[key] = data[key].isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StoredCertificate:
        values = dict(data)
        values["der"] = base64.b64decode(values["der"])
        for key in ("not_before", "not_after", "revoked_at"):
            if values.get(key) is not None:
                values[key] = dt.datetime.fromisoformat(values[key])
        return cls(**values)


class MemoryStore:
    """Dict-backed store: the reference implementation of the protocol, and fast for benches."""

    def __init__(self) -> None:
        self._records: dict[str, StoredCertificate] = {}
        self._by_serial: dict[str, set[str]] = {}
        self._stations: dict[str, list[str]] = {}

    # -- persistence hooks (no-ops here, used by FileStore) ---------------------------------
    def _persist(self, record: StoredCertificate) -> None:
        pass

    def _forget(self, fingerprint: str) -> None:
        pass

    def _persist_stations(self) -> None:
        pass

    def _index(self, record: StoredCertificate) -> None:
        self._records[record.fingerprint] = record
        self._by_serial.setdefault(record.serial, set()).add(record.fingerprint)

    # -- protocol ----------------------------------------------------------------------------
    async def add_certificate(self, *, fingerprint: str, der: bytes, role: str, serial: str,
                              subject: str, subject_name_sha256: str, issuer_name_sha256: str,
                              not_before: dt.datetime, not_after: dt.datetime,
                              station_id: str | None = None) -> bool:
        if fingerprint in self._records:
            return False
        record = StoredCertificate(
            fingerprint=fingerprint, der=bytes(der), role=str(role), serial=serial,
            subject=subject, subject_name_sha256=subject_name_sha256,
            issuer_name_sha256=issuer_name_sha256, not_before=not_before, not_after=not_after,
            station_id=station_id,
        )
        self._persist(record)
        self._index(record)
        return True

    async def get_certificate(self, fingerprint: str) -> StoredCertificate | None:
        return self._records.get(fingerprint)

    async def find_certificates(self, *, role: str | None = None, serial: str | None = None,
                                subject_name_sha256: str | None = None,
                                issuer_name_sha256: str | None = None,
                                station_id: str | None = None,
                                not_after_before: dt.datetime | None = None,
                                ) -> list[StoredCertificate]:
        if serial is not None:
            candidates = [self._records[f] for f in self._by_serial.get(serial, ())]
        else:
            candidates = list(self._records.values())
        out = [
            r for r in candidates
            if (role is None or r.role == role)
            and (subject_name_sha256 is None or r.subject_name_sha256 == subject_name_sha256)
            and (issuer_name_sha256 is None or r.issuer_name_sha256 == issuer_name_sha256)
            and (station_id is None or r.station_id == station_id)
            and (not_after_before is None or r.not_after < not_after_before)
        ]
        out.sort(key=lambda r: (r.not_after, r.fingerprint))
        return out

    async def revoke_certificate(self, fingerprint: str, *, revoked_at: dt.datetime,
                                 reason: str) -> bool:
        record = self._records.get(fingerprint)
        if record is None:
            return False
        if record.revoked_at is None:
            record = replace(record, revoked_at=revoked_at, revocation_reason=reason)
            self._persist(record)
            self._records[fingerprint] = record
        return True

    async def delete_certificate(self, fingerprint: str) -> bool:
        record = self._records.pop(fingerprint, None)
        if record is None:
            return False
        self._by_serial.get(record.serial, set()).discard(fingerprint)
        self._forget(fingerprint)
        return True

    async def station_identities(self, station_id: str) -> list[str] | None:
        ids = self._stations.get(station_id)
        return list(ids) if ids is not None else None

    # -- not part of the protocol: how the CLI/tests register stations -----------------------
    def set_station_identities(self, station_id: str, identities: Sequence[str]) -> None:
        self._stations[station_id] = list(identities)
        self._persist_stations()


class FileStore(MemoryStore):
    """A directory: ``certificates/<fingerprint>.json`` per certificate, ``stations.json``.

    One small file per certificate keeps each write O(1) and crash-safe (write + rename). File
    I/O is synchronous: this store serves the CLI and tests, the hub uses its database.
    """

    def __init__(self, directory: Path | str) -> None:
        super().__init__()
        self.directory = Path(directory)
        self._cert_dir = self.directory / "certificates"
        self._cert_dir.mkdir(parents=True, exist_ok=True)
        for path in sorted(self._cert_dir.glob("*.json")):
            self._index(StoredCertificate.from_json(json.loads(path.read_text())))
        stations = self.directory / "stations.json"
        if stations.is_file():
            self._stations = {k: list(v) for k, v in json.loads(stations.read_text()).items()}

    def _write(self, path: Path, text: str) -> None:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _persist(self, record: StoredCertificate) -> None:
        self._write(self._cert_dir / f"{record.fingerprint}.json", json.dumps(record.to_json()))

    def _forget(self, fingerprint: str) -> None:
        (self._cert_dir / f"{fingerprint}.json").unlink(missing_ok=True)

    def _persist_stations(self) -> None:
        self._write(self.directory / "stations.json", json.dumps(self._stations, indent=1))

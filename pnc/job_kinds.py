"""What each kind of Plug&Charge job does with its station, one step per run: the runner
(``pnc.jobs.Jobs``) claims a job's lease, calls its kind here and writes back the ``Outcome``.

A step that needs the station and finds it offline waits (``OFFLINE_RECHECK``) without using an
attempt; a refused or failed exchange is retried with backoff; an answer the station can never
change (unsupported, invalid) fails the job.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.serialization import Encoding

from certs.store import load_record_certificate
from hub.commands import CommandFailed, StationOffline
from hub.db.base import utcnow
from hub.feature_api import InvalidRequest
from pnc import inventory
from pnc.charger import TunnelRefused, UnsupportedCommand
from pnc.models import DONE, FAILED, PENDING, WAITING
from pnc.signers import SignerError
from pnc.signing import kind_of
from pnc.tunnel import TunnelError

if TYPE_CHECKING:
    from pnc.runtime import Pnc

#: How long an offline station's job sleeps before it is looked at again (connecting wakes it).
OFFLINE_RECHECK = 300.0
TRIGGERS = {"V2GCertificate": "SignV2GCertificate",
            "ChargingStationCertificate": "SignChargingStationCertificate"}


@dataclass
class Outcome:
    state: str
    step: str | None = None
    delay: float = 0.0
    error: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    attempt: bool = False


def _done(**payload: Any) -> Outcome:
    return Outcome(DONE, payload=payload)


def _offline() -> Outcome:
    return Outcome(WAITING, delay=OFFLINE_RECHECK, error="station offline")


class JobKinds:
    """The steps of ``sign``, ``renew``, ``install_root`` and ``delete_root`` jobs."""

    def __init__(self, pnc: Pnc) -> None:
        self.pnc = pnc
        self.settings = pnc.settings
        #: Renewals whose TriggerMessage a connection accepted: job id -> (that connection's
        #: session, when). A boot after the connect wakes the job again; that connection is
        #: not asked twice while its CSR may still come (in memory: after a restart, or on
        #: another node, the station is simply asked again).
        self.triggered: dict[int, tuple[weakref.ref[Any], float]] = {}
        self.handlers: dict[str, Callable[[Any], Awaitable[Outcome]]] = {
            "sign": self.sign, "renew": self.renew, "install_root": self.install_root,
            "delete_root": self.delete_root}

    def forget_trigger(self, job_id: int) -> None:
        """The renewal's CSR came (or the renewal ended): stop remembering its trigger."""
        self.triggered.pop(job_id, None)

    def connected(self, station_id: str) -> bool:
        return self.pnc.hub.commands.is_connected(station_id)

    async def command(self, station_id: str, action: str, payload: dict[str, Any]
                       ) -> tuple[dict[str, Any] | None, Outcome | None]:
        """(answer, None) or (None, the outcome of a failed exchange)."""
        try:
            answer = await self.pnc.commands.send(station_id, action, payload)
        except StationOffline:
            return None, _offline()
        except (CommandFailed, TunnelRefused, TunnelError) as exc:
            return None, Outcome(PENDING, attempt=True, error=f"{action}: {exc}")
        except (UnsupportedCommand, InvalidRequest) as exc:
            return None, Outcome(FAILED, error=f"{action}: {exc}")
        return answer.payload, None

    async def sign(self, job: Any) -> Outcome:
        payload = dict(job.payload)
        station_id = job.station_id
        extra: dict[str, Any] = {}
        if job.step == "sign":
            try:
                signed = await self.pnc.signing.sign(station_id, payload["csr"],
                                                     kind_of(payload["certificateType"]))
            except SignerError as exc:
                error = f"signing failed: {exc.reason}: {exc.message}"
                if exc.transient:
                    return Outcome(PENDING, attempt=True, error=error)
                return Outcome(FAILED, error=error)
            extra = {"chain": signed.pem(), "fingerprint": signed.fingerprint}
            payload.update(extra)
        if not self.connected(station_id):
            return Outcome(WAITING, step="deliver", delay=OFFLINE_RECHECK,
                           error="signed; waiting for the station to connect", payload=extra)
        answer, failed = await self.command(station_id, "CertificateSigned", {
            "certificateChain": payload["chain"], "certificateType": payload["certificateType"]})
        if failed is not None:
            failed.step, failed.payload = "deliver", extra
            return failed
        assert answer is not None
        if answer.get("status") != "Accepted":
            return Outcome(FAILED, step="deliver", payload=extra,
                           error=f"the station answered CertificateSigned {answer.get('status')}")
        return Outcome(DONE, step="deliver", payload=extra)

    async def renew(self, job: Any) -> Outcome:
        payload = job.payload
        record = await self.pnc.store.get_certificate(payload["fingerprint"])
        if record is None or record.revoked_at is not None:
            return _done(result="certificate gone or revoked")
        if await self.pnc.lifecycle.superseded(record):
            return _done(result="superseded")
        if job.step == "signing":
            # Still here after csr_wait: the sign job neither finished nor failed; ask again.
            return Outcome(PENDING, step="trigger", attempt=True,
                           error="the CSR's certificate was not delivered in time")
        if not self.connected(job.station_id):
            return _offline()
        waited = self._awaiting_csr(job)
        if waited is not None:
            return Outcome(WAITING, step="await_csr", delay=waited, error=None)
        requested = TRIGGERS[payload["certificateType"]]
        answer, failed = await self.command(job.station_id, "TriggerMessage",
                                             {"requestedMessage": requested})
        if failed is not None:
            return failed
        assert answer is not None
        if answer.get("status") != "Accepted":
            return Outcome(PENDING, step="trigger", attempt=True,
                           error=f"the station answered TriggerMessage {requested} "
                                 f"{answer.get('status')}")
        session = self.pnc.hub.stations.get(job.station_id)
        if session is not None:
            self.triggered[job.id] = (weakref.ref(session), time.monotonic())
        return Outcome(WAITING, step="await_csr", delay=self.settings.csr_wait_seconds,
                       error=None)

    def _awaiting_csr(self, job: Any) -> float | None:
        """Seconds left to wait for the CSR if this station's current connection accepted the
        renewal's trigger less than ``csr_wait_seconds`` ago; else None (ask again)."""
        sent = self.triggered.pop(job.id, None)
        if job.step != "await_csr" or sent is None:
            return None
        session, at = sent
        left = self.settings.csr_wait_seconds - (time.monotonic() - at)
        current = self.pnc.hub.stations.get(job.station_id)
        if current is None or session() is not current or left <= 0:
            return None
        self.triggered[job.id] = sent
        return left

    async def install_root(self, job: Any) -> Outcome:
        payload = job.payload
        record = await self.pnc.store.get_certificate(payload["fingerprint"])
        now = utcnow()
        if record is None or record.revoked_at is not None or record.not_after <= now:
            return _done(result="root no longer valid")
        if await inventory.is_installed(self.pnc, job.station_id, record.fingerprint):
            return _done(result="already installed")
        if not self.connected(job.station_id):
            return _offline()
        pem = load_record_certificate(record).public_bytes(Encoding.PEM).decode()
        answer, failed = await self.command(job.station_id, "InstallCertificate", {
            "certificateType": record.role, "certificate": pem})
        if failed is not None:
            return failed
        assert answer is not None
        if answer.get("status") != "Accepted":
            return Outcome(PENDING, attempt=True, error=f"the station answered "
                           f"InstallCertificate {answer.get('status')}")
        return _done(result="installed")

    async def delete_root(self, job: Any) -> Outcome:
        rows = await inventory.rows_with_fingerprint(self.pnc, job.station_id,
                                                     job.payload["fingerprint"])
        if not rows:
            return _done(result="not installed")
        if not self.connected(job.station_id):
            return _offline()
        answer, failed = await self.command(job.station_id, "DeleteCertificate", {
            "certificateHashData": inventory.hash_data_json(rows[0])})
        if failed is not None:
            return failed
        assert answer is not None
        status = answer.get("status")
        if status == "NotFound":  # gone already: the inventory was out of date
            await inventory.forget_row(self.pnc, rows[0].id)
        elif status != "Accepted":
            return Outcome(PENDING, attempt=True, error=f"the station answered "
                           f"DeleteCertificate {status}")
        return _done(result="deleted" if status == "Accepted" else "not found on the station")

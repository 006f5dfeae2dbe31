"""Lifecycle automation: a certificate that expires within the renewal window is renewed
without an operator, and the renewal survives a hub restart half-way (after the trigger,
before the CSR; after signing, before CertificateSigned got through)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from certs.issuing import CertificateIssuer, CertificateKind
from certs.roles import CertificateRole as R
from tests.harness import RunningHub, wait_for
from tests.pnc.chargers import Wallet, connect
from tests.pnc.harness import add_station, certificate, pnc_of, start_pnc_hub
from tests.pnc.test_tunnel_e2e import api, verify_chain

SECC = "DE*PNC*E0777*1"
SETTINGS = {"lifecycle_enabled": True, "lifecycle_interval_seconds": 0.3,
            "renew_within_days": 7, "csr_wait_seconds": 60, "retry_base_seconds": 0.2,
            "command_timeout_seconds": 1, "auto_rollout": False}


async def _expiring_station(running: RunningHub, station_id: str) -> tuple[Wallet, Any]:
    """A station holding a SECC certificate the hub issued that expires in one day."""
    pnc = pnc_of(running)
    await add_station(running, station_id, [SECC])
    wallet = Wallet(station_id, SECC)
    short = CertificateIssuer(pnc.store, pnc.pki.replace(secc_validity_days=1),
                              pnc.issuer.authorities)
    issued = await short.issue_from_csr(wallet.csr("V2GCertificate"),
                                        kind=CertificateKind.V2G, station_id=station_id)
    wallet.chains["V2GCertificate"] = list(issued.chain)
    return wallet, issued.certificate


async def _jobs(running: RunningHub, kind: str) -> list[dict[str, Any]]:
    status, body = await api(running, "GET", f"/api/pnc/jobs?kind={kind}")
    assert status == 200
    return body["jobs"]


async def _renewed(running: RunningHub, wallet: Wallet, old: Any) -> None:
    await wait_for(lambda: wallet.chains["V2GCertificate"][0] != old, timeout=15)
    new = wallet.chains["V2GCertificate"]
    verify_chain(new, await certificate(pnc_of(running), R.V2G_ROOT))
    assert new[0].subject == old.subject
    assert (new[0].not_valid_after_utc - old.not_valid_after_utc).days > 30
    jobs = await wait_for(lambda: _done(running), timeout=10)
    assert len(jobs) == 1  # one renewal, however many sweeps ran


async def _done(running: RunningHub) -> list[dict[str, Any]] | None:
    jobs = await _jobs(running, "renew")
    return jobs if jobs and all(j["state"] == "done" for j in jobs) else None


async def test_renewal_resumes_after_a_restart_before_the_csr(database_url: str,
                                                              tmp_path: Path) -> None:
    first = await start_pnc_hub(database_url, tmp_path, pnc=SETTINGS)
    try:
        wallet, old = await _expiring_station(first, "CP-RENEW1")
        async with connect(first, "CP-RENEW1", wallet) as cp:
            cp.answer_triggers = False  # accepts the trigger, then is cut off
            await cp.boot()
            await wait_for(lambda: _step(first, "await_csr"), timeout=10)
            assert any(m == "TriggerMessage" for m, _ in cp.tunnel_received)
    finally:
        await first.stop()
    second = await start_pnc_hub(database_url, tmp_path, pnc=SETTINGS)
    try:
        async with connect(second, "CP-RENEW1", wallet) as cp:
            await cp.boot()
            await _renewed(second, wallet, old)
    finally:
        await second.stop()


async def test_a_boot_after_the_trigger_does_not_ask_for_a_second_csr(
        database_url: str, tmp_path: Path) -> None:
    """A station's connect and its boot both wake its jobs; a renewal whose trigger the
    connection already accepted keeps waiting for that CSR instead of triggering again (two
    CSRs would make two sign jobs and two certificates)."""
    running = await start_pnc_hub(database_url, tmp_path, pnc=SETTINGS)
    try:
        wallet, _ = await _expiring_station(running, "CP-RENEW3")
        async with connect(running, "CP-RENEW3", wallet) as cp:
            cp.answer_triggers = False  # accepts the trigger; its CSR is slow to come
            await cp.boot()
            [waiting] = await wait_for(lambda: _in_step(running, "await_csr"), timeout=10)
            await cp.boot()  # wakes the renewal again, on the same connection

            async def ran_again() -> bool:
                [job] = await _jobs(running, "renew")
                return job["updatedAt"] != waiting["updatedAt"]

            await wait_for(ran_again, timeout=10)
            triggers = [m for m, _ in cp.tunnel_received if m == "TriggerMessage"]
            assert len(triggers) == 1
            [job] = await _jobs(running, "renew")
            assert (job["step"], job["state"], job["attempts"]) == ("await_csr", "waiting", 0)
    finally:
        await running.stop()


async def _in_step(running: RunningHub, step: str) -> list[dict[str, Any]] | None:
    jobs = await _jobs(running, "renew")
    return jobs if jobs and all(j["step"] == step for j in jobs) else None


async def test_renewal_resumes_after_a_restart_before_delivery(database_url: str,
                                                               tmp_path: Path) -> None:
    first = await start_pnc_hub(database_url, tmp_path, pnc=SETTINGS)
    try:
        wallet, old = await _expiring_station(first, "CP-RENEW2")
        wallet.answer_signed.clear()  # signs its CSR, then hangs on CertificateSigned
        async with connect(first, "CP-RENEW2", wallet) as cp:
            await cp.boot()
            await wait_for(lambda: _sign_failed_once(first), timeout=10)
        # The station is gone: whether a retry was in flight or not, the job ends up waiting
        # for it. Stop only once that is recorded, so that the restart always starts from the
        # same state (a hub stopped mid-run is tests/pnc/test_job_leases.py's case).
        await wait_for(lambda: _sign_waiting(first), timeout=10)
    finally:
        await first.stop()
    wallet.answer_signed.set()
    second = await start_pnc_hub(database_url, tmp_path, pnc=SETTINGS)
    try:
        async with connect(second, "CP-RENEW2", wallet) as cp:
            await cp.boot()
            await _renewed(second, wallet, old)
        signs = await _jobs(second, "sign")
        assert len(signs) == 1 and signs[0]["attempts"] >= 1 and signs[0]["state"] == "done"
    finally:
        await second.stop()


async def _step(running: RunningHub, step: str) -> bool:
    return any(j["step"] == step for j in await _jobs(running, "renew"))


async def _sign_waiting(running: RunningHub) -> bool:
    jobs = await _jobs(running, "sign")
    return any(j["step"] == "deliver" and j["attempts"] >= 1 and j["state"] == "waiting"
               for j in jobs)


async def _sign_failed_once(running: RunningHub) -> bool:
    jobs = await _jobs(running, "sign")
    return any(j["step"] == "deliver" and j["attempts"] >= 1 and j["state"] == "pending"
               and "CertificateSigned" in (j["lastError"] or "") for j in jobs)

"""Issue 14, finding 1: a station cannot obtain a certificate in another station's name.

An attacking station reports the victim's id and SECC ID as its own serial numbers
(BootNotification), then asks for certificates with those names as CN over every transport:
the 1.6 Security extension (SignCertificate), the 1.6 Plug&Charge DataTransfer tunnel and
2.0.1 SignCertificate. On a production hub (the attacker registered) and on a ``--dev`` hub
(the attacker unknown until it connects), each CSR is answered Rejected, recorded as a security
event visible through the API and counted in /metrics. Its own id, the SECC IDs the operator
registered for it and the EvseIDs of its ports are still signed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from tests.harness import RunningHub, wait_for
from tests.pnc.chargers import Wallet, connect
from tests.pnc.harness import add_station, pnc_of, start_pnc_hub
from tests.pnc.test_tunnel_e2e import api

VICTIM, VICTIM_SECC = "CP-VICTIM", "DE*PNC*E0007*1"
ATTACKER, ATTACKER_SECC, ATTACKER_EVSE = "CP-ATTACKER", "DE*PNC*E0008*1", "DE*PNC*E0009*1"


async def production_hub(database_url: str, tmp_path: Path, factory: Any) -> RunningHub:
    """A hub without --dev, holding CAs: a dev PKI made once (as `pnc-hub pki init-dev`
    would), then the hub restarted on the same database and key directory without --dev."""
    once = await start_pnc_hub(database_url, tmp_path, dev=True)
    await once.stop()
    running = await factory(dev=False)
    assert pnc_of(running).issuer.authorities, "the production hub must hold its CAs"
    return running


async def provision_attacker_port(running: RunningHub) -> None:
    """The operator (admin) puts the attacker's station on a site with one port's EvseID."""
    assert (await api(running, "PUT", "/organisations/acme", {"name": "Acme"}))[0] == 200
    status, site = await api(running, "POST", "/sites", {
        "name": "Depot", "organization_id": "acme",
        "chargers": [{"name": "A", "ocpp_id": ATTACKER, "type": "Level 2", "ports": [
            {"name": "1", "port_number": 1, "connector_type": "TYPE2",
             "evse_id": ATTACKER_EVSE}]}]})
    assert status == 201, site


async def impersonate_over_16(running: RunningHub, wallet: Wallet) -> dict[str, str]:
    """The answers to the impersonating CSRs, by transport; then its own id is signed."""
    answers = {}
    async with connect(running, ATTACKER, wallet, "1.6") as cp:
        await cp.call(call16.BootNotification(
            charge_point_vendor="ACME", charge_point_model="Wallbox",
            charge_point_serial_number=VICTIM, charge_box_serial_number=VICTIM_SECC))
        # Security extension: a charging-station certificate in the victim's name.
        answer = await cp.call(call16.SignCertificate(
            csr=wallet.csr("ChargingStationCertificate", cn=VICTIM)))
        answers["1.6 security extension"] = answer.status
        # Plug&Charge tunnel: a SECC certificate for the victim's SECC ID.
        status, inner = await cp.sign_v2g(cn=VICTIM_SECC)
        assert status == "Accepted" and inner is not None
        answers["1.6 tunnel V2G"] = inner["status"]

        # Its own id is signed, and the chain arrives (CertificateSigned).
        answer = await cp.call(call16.SignCertificate(
            csr=wallet.csr("ChargingStationCertificate")))
        assert answer.status == "Accepted"
        await wait_for(lambda: "ChargingStationCertificate" in wallet.chains, timeout=20)
    return answers


async def impersonate_over_201(running: RunningHub, wallet: Wallet) -> dict[str, str]:
    answers = {}
    async with connect(running, ATTACKER, wallet, "2.0.1") as cp:
        for serial, kind, cn in (
                (VICTIM, "ChargingStationCertificate", VICTIM),
                (VICTIM_SECC, "V2GCertificate", VICTIM_SECC)):
            await cp.call(call201.BootNotification(
                charging_station={"vendor_name": "ACME", "model": "Wallbox 201",
                                  "serial_number": serial}, reason="PowerUp"))
            answer = await cp.sign(kind, cn=cn)
            answers[f"2.0.1 {kind}"] = answer.status
            if answer.status == "Rejected":
                assert answer.status_info["additional_info"].startswith(
                    "subject_cn_not_station")
        wallet.chains.clear()
        assert (await cp.sign("ChargingStationCertificate")).status == "Accepted"
        await wait_for(lambda: "ChargingStationCertificate" in wallet.chains, timeout=20)
    return answers


async def security_events(running: RunningHub) -> list[dict[str, Any]]:
    status, body = await api(running, "GET",
                             f"/api/security-events?station_id={ATTACKER}&source=hub")
    assert status == 200, body
    return body["data"]


async def rejected_csrs_counted(running: RunningHub) -> int:
    async with aiohttp.ClientSession() as http, http.get(
            running.http_url + "/metrics", headers=running.auth) as resp:
        text = await resp.text()
    for line in text.splitlines():
        if line.startswith('pnc_hub_security_events_total{event="CsrRejected",'
                           'reason="subject_cn_not_station"}'):
            return int(line.rsplit(" ", 1)[1])
    return 0


@pytest.mark.parametrize("dev", [False, True], ids=["production", "dev"])
async def test_a_station_cannot_get_a_certificate_in_another_stations_name(
        database_url: str, tmp_path: Path, pnc_hub_factory: Any, dev: bool) -> None:
    if dev:
        running = await pnc_hub_factory(dev=True)  # the attacker is unknown: --dev admits it
    else:
        running = await production_hub(database_url, tmp_path, pnc_hub_factory)
        await add_station(running, ATTACKER, [ATTACKER_SECC])
    await add_station(running, VICTIM, [VICTIM_SECC])

    answers = {**await impersonate_over_16(running, Wallet(ATTACKER, ATTACKER_SECC)),
               **await impersonate_over_201(running, Wallet(ATTACKER, ATTACKER_SECC))}
    assert answers == {"1.6 security extension": "Rejected", "1.6 tunnel V2G": "Rejected",
                       "2.0.1 ChargingStationCertificate": "Rejected",
                       "2.0.1 V2GCertificate": "Rejected"}

    # No certificate carries the victim's names; the attacker's own ones were issued.
    issued = await pnc_of(running).store.find_certificates(station_id=ATTACKER)
    subjects = [record.subject for record in issued]
    assert subjects and all(VICTIM not in s and VICTIM_SECC not in s for s in subjects)
    assert all(f"CN={ATTACKER}" in s for s in subjects)

    events = await security_events(running)
    assert len(events) == 4
    assert {e["type"] for e in events} == {"CsrRejected"}
    assert {e["detail"]["reason"] for e in events} == {"subject_cn_not_station"}
    assert {e["detail"]["certificateType"] for e in events} == {
        "ChargingStationCertificate", "V2GCertificate"}
    assert await rejected_csrs_counted(running) == 4


async def test_operator_provisioned_names_are_signed_on_every_transport(
        database_url: str, tmp_path: Path, pnc_hub_factory: Any) -> None:
    """Own id (station certificate), a registered SECC ID and a port's EvseID (V2G)."""
    running = await production_hub(database_url, tmp_path, pnc_hub_factory)
    await add_station(running, ATTACKER, [ATTACKER_SECC])
    await provision_attacker_port(running)
    wallet = Wallet(ATTACKER, ATTACKER_SECC)
    async with connect(running, ATTACKER, wallet, "1.6") as cp:
        await cp.boot()
        assert await cp.sign_v2g() == ("Accepted", {"status": "Accepted"})
        await wait_for(lambda: "V2GCertificate" in wallet.chains, timeout=20)
        wallet.chains.clear()
        assert await cp.sign_v2g(cn=ATTACKER_EVSE) == ("Accepted", {"status": "Accepted"})
        await wait_for(lambda: "V2GCertificate" in wallet.chains, timeout=20)
    async with connect(running, ATTACKER, wallet, "2.0.1") as cp:
        await cp.boot()
        for kind, cn in (("ChargingStationCertificate", None), ("V2GCertificate", None),
                         ("V2GCertificate", ATTACKER_EVSE)):
            wallet.chains.clear()
            assert (await cp.sign(kind, cn=cn)).status == "Accepted", (kind, cn)
            await wait_for(lambda kind=kind: kind in wallet.chains, timeout=20)
    assert await security_events(running) == []

"""/api/pnc/*: credentials, errors named precisely, the OpenAPI document, the public OCSP
responder, root rollout to every Plug&Charge station, and the jobs listing."""

from __future__ import annotations

from typing import Any

import aiohttp
from cryptography.x509 import ocsp

from tests.harness import wait_for
from tests.pnc.chargers import Wallet, connect
from tests.pnc.harness import add_station
from tests.pnc.test_tunnel_e2e import api


async def test_errors_credentials_and_documentation(pnc_hub_factory: Any) -> None:
    running = await pnc_hub_factory()
    await add_station(running, "CP-API", ["DE*PNC*E0API"])
    async with aiohttp.ClientSession() as http:
        async with http.post(running.http_url + "/api/pnc/ocpp-command", json={}) as resp:
            assert resp.status == 401
        async with http.get(running.http_url + "/api/openapi.json",
                            headers=running.auth) as resp:
            document = await resp.json()
        # The OCSP responder is public: chargers and OCSP clients have no bearer token.
        async with http.post(running.http_url + "/ocsp", data=b"not ocsp") as resp:
            assert resp.status == 200
            answer = ocsp.load_der_ocsp_response(await resp.read())
            assert answer.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    paths = document["paths"]
    for path, method in (("/api/pnc/ocpp-command", "post"),
                         ("/api/pnc/ocpp-certificates", "post"),
                         ("/api/pnc/stations/{station_id}/certificates", "get"),
                         ("/api/pnc/jobs", "get")):
        assert paths[path][method]["tags"] == ["pnc"] and "security" not in paths[path][method]
    assert paths["/ocsp"]["post"]["security"] == []

    command = {"station_id": "CP-API", "action": "InstallCertificate",
               "payload": {"certificateType": "V2GRootCertificate", "certificate": "x"}}
    assert (await api(running, "POST", "/api/pnc/ocpp-command",
                      {**command, "station_id": "NOPE"}))[1]["error"] == "unknown_station"
    status, body = await api(running, "POST", "/api/pnc/ocpp-command", command)
    assert (status, body["error"]) == (409, "station_offline")
    status, body = await api(running, "POST", "/api/pnc/ocpp-command",
                             {**command, "payload": {"certificateType": "Nonsense"}})
    assert (status, body["error"]) == (400, "invalid_request")
    status, body = await api(running, "POST", "/api/pnc/ocpp-command",
                             {**command, "action": "Reset"})
    assert (status, body["field"]) == (400, "action")
    status, body = await api(running, "POST", "/api/pnc/ocpp-certificates",
                             {"operation": "explode"})
    assert (status, body["field"]) == (400, "operation")

    wallet = Wallet("CP-API", "DE*PNC*E0API")
    async with connect(running, "CP-API", wallet) as cp:
        await cp.boot()
        # The charger's tunnel answer does not fit the 2.0.1 schema / is not Accepted.
        cp.tunnel_override["InstallCertificate"] = ("Accepted", '{"status": "Maybe"}')
        status, body = await api(running, "POST", "/api/pnc/ocpp-command", command)
        assert (status, body["error"]) == (502, "charger_error"), body
        cp.tunnel_override["InstallCertificate"] = ("Rejected", None)
        status, body = await api(running, "POST", "/api/pnc/ocpp-command", command)
        assert (status, body["error"], body["data_transfer_status"]) == (
            502, "charger_refused", "Rejected")
        # Security Whitepaper types do not go through the tunnel on 1.6.
        status, body = await api(running, "POST", "/api/pnc/ocpp-command", {
            **command, "transport": "tunnel", "action": "TriggerMessage",
            "payload": {"requestedMessage": "BootNotification"}})
        assert status == 200 and body["transport"] == "tunnel"
        # check on 1.6: the tunnel inventory; this charger lacks the Security Whitepaper's
        # GetInstalledCertificateIds (NotImplemented), which does not spoil the check.
        status, body = await api(running, "POST", "/api/pnc/ocpp-certificates",
                                 {"operation": "check", "station_id": "CP-API"})
        assert status == 200 and len(body["reports"]) == 1, body
        assert {m["certificateType"] for m in body["missing"]} == {"V2GRootCertificate",
                                                                   "MORootCertificate"}


async def test_new_roots_are_rolled_out_to_every_pnc_station(pnc_hub_factory: Any) -> None:
    running = await pnc_hub_factory(pnc={"lifecycle_enabled": True,
                                         "lifecycle_interval_seconds": 0.3})
    await add_station(running, "CP-R1", ["DE*PNC*E0R1"])
    await add_station(running, "CP-R2", ["DE*PNC*E0R2"])
    await add_station(running, "CP-PLAIN")  # no Plug&Charge: left alone
    w1, w2, plain = (Wallet("CP-R1", "DE*PNC*E0R1"), Wallet("CP-R2", "DE*PNC*E0R2"),
                     Wallet("CP-PLAIN", "DE*PNC*E0PL"))
    async with connect(running, "CP-R1", w1) as c1, connect(running, "CP-R2", w2) as c2, \
            connect(running, "CP-PLAIN", plain) as c3:
        for cp in (c1, c2, c3):
            await cp.boot()
        await wait_for(lambda: all(len(w.roots.get(kind, [])) == 1 for w in (w1, w2)
                                   for kind in ("V2GRootCertificate", "MORootCertificate")),
                       timeout=10)
        jobs = await wait_for(lambda: _all_done(running), timeout=10)
        assert len(jobs) == 4
        # A sweep later: nothing new, nothing installed twice.
        status, sweep = await api(running, "POST", "/api/pnc/lifecycle/sweep")
        assert status == 200 and sweep["rolloutJobs"] == 0
        assert all(len(w.roots["V2GRootCertificate"]) == 1 for w in (w1, w2))
    assert plain.roots == {}


async def _all_done(running: Any) -> list[Any] | None:
    status, body = await api(running, "GET", "/api/pnc/jobs?kind=install_root")
    jobs = body["jobs"]
    return jobs if jobs and all(j["state"] == "done" for j in jobs) else None

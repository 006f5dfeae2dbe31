"""Mutual TLS both ways: the client presents the operator's certificate to Hubject, and the
webhooks admit only Hubject's client certificate when the hub terminates TLS."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from pathlib import Path

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ocpp.v16 import call

from hub.ocpp_server.endpoint import ssl_context as server_ssl_context
from oicp import OICP
from oicp.mock_hubject import MockHubject
from tests.harness import connect_station, start_hub, wait_for
from tests.oicp.conftest import EVSE_1, PROVIDER, oicp_settings, remote_start_body, session_id


class Pki:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Root")])
        self.ca = self._build(name, name, self.ca_key.public_key(), ca=True)
        self.ca_file = folder / "ca.pem"
        self.ca_file.write_bytes(self.ca.public_bytes(serialization.Encoding.PEM))

    def _build(self, subject: x509.Name, issuer: x509.Name, public_key: object, ca: bool = False,
               ip: str | None = None) -> x509.Certificate:
        now = dt.datetime.now(dt.UTC)
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
                   .public_key(public_key).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5))
                   .not_valid_after(now + dt.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if ip:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(ip))]), critical=False)
        return builder.sign(self.ca_key, hashes.SHA256())

    def issue(self, common_name: str, ip: str | None = None) -> tuple[str, str]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = self._build(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]),
                           self.ca.subject, key.public_key(), ip=ip)
        cert_file = self.folder / f"{common_name}.pem"
        key_file = self.folder / f"{common_name}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return str(cert_file), str(key_file)

    def client_context(self, common_name: str | None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        if common_name:
            context.load_cert_chain(*self.issue(common_name))
        return context


async def test_client_presents_its_certificate(tmp_path: Path, database_url: str) -> None:
    pki = Pki(tmp_path)
    server = server_ssl_context(*pki.issue("hubject-mock", ip="127.0.0.1"),
                                client_ca=str(pki.ca_file), require_client_cert=True)
    mock = await MockHubject().start(ssl_context=server)
    cert, key = pki.issue("DE-ABC-operator")
    hubs = []
    try:
        with_cert = await start_hub(database_url, dev=True, oicp=oicp_settings(
            mock, client_cert=cert, client_key=key, ca_bundle=str(pki.ca_file)))
        hubs.append(with_cert)
        async with connect_station(with_cert, "CP-1") as station:
            await station.boot()
            await station.call(call.StatusNotification(connector_id=1, error_code="NoError",
                                                       status="Available"))
            await wait_for(lambda: mock.latest_status().get(EVSE_1) == "Available")
        await with_cert.stop()
        hubs.clear()
        attempts = mock.attempts()
        without = await start_hub(database_url, dev=True, oicp=oicp_settings(
            mock, ca_bundle=str(pki.ca_file)))
        hubs.append(without)
        async with connect_station(without, "CP-1") as station:
            await station.boot()
        rt = without.app[OICP]
        await wait_for(lambda: rt.client.failures["PushEvseStatus"] >= 2)
        assert mock.attempts() == attempts  # the handshake fails before any request
    finally:
        for running in hubs:
            await running.stop()
        await mock.stop()
    assert mock.invalid == []


async def test_webhooks_admit_only_hubjects_certificate(tmp_path: Path,
                                                        database_url: str) -> None:
    pki = Pki(tmp_path)
    mock = await MockHubject().start()
    server = server_ssl_context(*pki.issue("hub", ip="127.0.0.1"), client_ca=str(pki.ca_file))
    running = await start_hub(database_url, ssl_context=server, dev=False, oicp=oicp_settings(
        mock, webhook_require_client_cert=True, webhook_client_cert_names=["hubject-*"]))
    path = f"/api/oicp/charging/v21/providers/{PROVIDER}/authorize-remote/start"
    results = {}
    try:
        for name in ("hubject-qa", "charger-1", None):
            connector = aiohttp.TCPConnector(ssl=pki.client_context(name))
            async with aiohttp.ClientSession(connector=connector) as http:
                async with http.post(running.http_url + path,
                                     json=remote_start_body(session_id())) as response:
                    results[name] = (response.status, (await response.json())["StatusCode"]
                                     ["Code"])
    finally:
        await running.stop()
        await mock.stop()
    assert results == {"hubject-qa": (200, "501"), "charger-1": (403, "017"),
                       None: (401, "017")}

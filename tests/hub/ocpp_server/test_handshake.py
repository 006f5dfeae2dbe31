"""The WebSocket handshake: subprotocols, station ids, admission policy, security profiles 1-3,
replacement of a previous connection, and offline marking."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from pathlib import Path

import aiohttp
import pytest
import websockets
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ocpp.v16 import call

from hub.db.models import Station
from hub.ocpp_server.endpoint import ssl_context as hub_ssl_context
from hub.services.stations import hash_password
from tests.harness import RunningHub, basic_auth, connect_station, start_hub, wait_for

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def register(running: RunningHub, station_id: str, password: str | None = None,
                   status: str = "Accepted") -> None:
    async with running.hub.sessions() as session, session.begin():
        session.add(Station(id=station_id, registration_status=status,
                            password_hash=hash_password(password) if password else None))


async def handshake_status(url: str, subprotocols: list[str] | None = None,
                           headers: dict[str, str] | None = None) -> int:
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(url, subprotocols=subprotocols, additional_headers=headers):
            pass
    return refused.value.response.status_code


@SQLITE_ONLY
async def test_subprotocol_and_station_id_are_checked(hub: RunningHub) -> None:
    assert await handshake_status(hub.ws_url("CP-1"), ["ocpp1.5"]) == 400
    assert await handshake_status(hub.ws_url("CP-1"), None) == 400
    assert await handshake_status(hub.ws_url("X" * 49), ["ocpp1.6"]) == 400
    assert await handshake_status(hub.ws_url("bad%20id"), ["ocpp1.6"]) == 400
    async with websockets.connect(hub.ws_url("CP-1"), subprotocols=["ocpp1.5", "ocpp1.6"]) as ws:
        assert ws.subprotocol == "ocpp1.6"
    # A plain HTTP GET is not an upgrade and is refused with a JSON reason.
    async with aiohttp.ClientSession() as http, http.get(hub.ws_url("CP-1").replace(
            "ws://", "http://")) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"] == "not_websocket"


async def test_unknown_stations_follow_the_policy(hub_factory) -> None:
    strict = await hub_factory()  # default policy: reject
    assert await handshake_status(strict.ws_url("STRANGER"), ["ocpp1.6"]) == 401
    await register(strict, "KNOWN")
    async with connect_station(strict, "KNOWN") as cp:
        assert (await cp.boot()).status == "Accepted"
    await register(strict, "WAITING", status="Pending")
    async with connect_station(strict, "WAITING") as cp:
        boot = await cp.boot()
        assert boot.status == "Pending"
        assert boot.interval == strict.hub.config.ocpp.pending_retry_interval


@SQLITE_ONLY
async def test_pending_policy_admits_and_registers_unknown_stations(hub_factory) -> None:
    running = await hub_factory(ocpp={"unknown_stations": "pending"})
    async with connect_station(running, "NEWCOMER") as cp:
        assert (await cp.boot()).status == "Pending"
    async with running.hub.sessions() as session:
        station = await session.get(Station, "NEWCOMER")
        assert station.registration_status == "Pending"


@SQLITE_ONLY
async def test_basic_auth_security_profile_1(hub: RunningHub) -> None:
    password = "correct-horse-battery"
    await register(hub, "CP-SEC", password)
    url = hub.ws_url("CP-SEC")
    assert await handshake_status(url, ["ocpp1.6"]) == 401
    assert await handshake_status(url, ["ocpp1.6"], basic_auth("CP-SEC", "wrong-password-123"))\
        == 401
    assert await handshake_status(url, ["ocpp1.6"], basic_auth("CP-OTHER", password)) == 401
    assert await handshake_status(url, ["ocpp1.6"], {"Authorization": "Basic !!!"}) == 401
    async with connect_station(hub, "CP-SEC", password=password) as cp:
        assert (await cp.boot()).status == "Accepted"


def test_station_passwords_follow_the_security_whitepaper() -> None:
    with pytest.raises(ValueError):
        hash_password("short")
    stored = hash_password("a" * 16)
    assert "a" * 16 not in stored


@SQLITE_ONLY
async def test_second_connection_replaces_the_first(hub: RunningHub) -> None:
    async with websockets.connect(hub.ws_url("CP-TWICE"), subprotocols=["ocpp1.6"]) as first:
        await wait_for(lambda: "CP-TWICE" in hub.hub.stations)
        old_session = hub.hub.stations.get("CP-TWICE")
        async with connect_station(hub, "CP-TWICE") as cp:
            await wait_for(lambda: hub.hub.stations.get("CP-TWICE") is not old_session)
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(first.recv(), 5)
            assert first.close_code == 1000
            # The new connection is the live one and stays marked connected.
            assert (await cp.call(call.Heartbeat(), suppress=False)).current_time
            async with hub.hub.sessions() as session:
                assert (await session.get(Station, "CP-TWICE")).connected
    assert hub.hub.stations.replaced == 1

    async def offline() -> bool:
        async with hub.hub.sessions() as session:
            return not (await session.get(Station, "CP-TWICE")).connected

    await wait_for(offline)


# -- TLS: security profiles 2 and 3 -----------------------------------------------------------

def _cert(subject_cn: str, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
          ca: bool) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)])
    issuer_name, issuer_key = issuer if issuer else (name, key)
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + dt.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(
                __import__("ipaddress").ip_address("127.0.0.1"))]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256()), key


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))


@pytest.fixture
def tls_files(tmp_path: Path) -> dict[str, Path]:
    ca, ca_key = _cert("Test CSMS Root", None, ca=True)
    server, server_key = _cert("localhost", (ca.subject, ca_key), ca=False)
    good, good_key = _cert("CP-TLS", (ca.subject, ca_key), ca=False)
    other, other_key = _cert("CP-SOMEONE-ELSE", (ca.subject, ca_key), ca=False)
    (tmp_path / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    _write(tmp_path / "server", server, server_key)
    _write(tmp_path / "good", good, good_key)
    _write(tmp_path / "other", other, other_key)
    return {name: tmp_path / name for name in ("ca.crt", "server", "good", "other")}


def _client_context(files: dict[str, Path], identity: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(files["ca.crt"]))
    if identity:
        base = files[identity]
        context.load_cert_chain(str(base.with_suffix(".crt")), str(base.with_suffix(".key")))
    return context


@SQLITE_ONLY
async def test_tls_profiles_2_and_3(database_url: str, tls_files: dict[str, Path]) -> None:
    server = tls_files["server"]
    context = hub_ssl_context(str(server.with_suffix(".crt")), str(server.with_suffix(".key")),
                              str(tls_files["ca.crt"]))
    running = await start_hub(database_url, ssl_context=context)
    try:
        await register(running, "CP-TLS")
        await register(running, "CP-PW", "sixteen-chars-pw!")
        # Profile 3: the client certificate names the station.
        async with connect_station(running, "CP-TLS",
                                   ssl_context=_client_context(tls_files, "good")) as cp:
            assert (await cp.boot()).status == "Accepted"
        # A certificate issued to another station is refused.
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with connect_station(running, "CP-TLS",
                                       ssl_context=_client_context(tls_files, "other")):
                pass
        assert refused.value.response.status_code == 403
        # Profile 2: TLS without a client certificate, HTTP Basic password.
        async with connect_station(running, "CP-PW", password="sixteen-chars-pw!",
                                   ssl_context=_client_context(tls_files, None)) as cp:
            assert (await cp.boot()).status == "Accepted"
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with connect_station(running, "CP-PW",
                                       ssl_context=_client_context(tls_files, None)):
                pass
        assert refused.value.response.status_code == 401
    finally:
        await running.stop()


@SQLITE_ONLY
async def test_bare_station_path(hub_factory) -> None:
    running = await hub_factory(dev=True, server={"bare_station_path": True})
    async with connect_station(running, "CP-BARE", bare=True) as cp:
        assert (await cp.boot()).status == "Accepted"
    async with aiohttp.ClientSession() as http, http.get(
            f"{running.http_url}/healthCheck-01") as resp:
        assert resp.status == 200

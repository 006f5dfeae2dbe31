"""ISO 15118 chargers as real `ocpp` clients: a 1.6 one that speaks the Plug&Charge
DataTransfer tunnel and the Security Whitepaper, and a native 2.0.1 one. Both keep their
certificates in a ``Wallet`` that behaves as OCPP 2.0.1 describes (install, report by hash data,
delete, accept a signed chain for the key of its last CSR)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import websockets
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import Action as Action16
from ocpp.v21 import call as call21
from ocpp.v21 import call_result as result21
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action as Action201

from certs import profiles as P
from hub.ocpp_server.session import to_camel, to_snake
from tests.harness import RunningHub, running_charge_point
from tests.pnc.harness import CPO, hash_data

VENDOR = "org.openchargealliance.iso15118pnc"
ROOT_TYPES = ("V2GRootCertificate", "MORootCertificate", "CSMSRootCertificate",
              "ManufacturerRootCertificate")


class Wallet:
    def __init__(self, station_id: str, secc_id: str, cpo: str = CPO) -> None:
        self.station_id = station_id
        self.secc_id = secc_id
        self.cpo = cpo
        self.roots: dict[str, list[x509.Certificate]] = {}
        self.keys: dict[str, ec.EllipticCurvePrivateKey] = {}
        self.chains: dict[str, list[x509.Certificate]] = {}
        self.signed: list[str] = []
        #: Answer CertificateSigned only once this is set (a charger that hangs).
        self.answer_signed = asyncio.Event()
        self.answer_signed.set()

    def csr(self, certificate_type: str, cn: str | None = None) -> str:
        key = ec.generate_private_key(ec.SECP256R1())
        self.keys[certificate_type] = key
        if certificate_type == "V2GCertificate":
            name = P.build_name(cn or self.secc_id, self.cpo, "DE", "CPO")
        else:
            name = P.build_name(cn or self.station_id, self.cpo, "DE")
        csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key,
                                                                             hashes.SHA256())
        return csr.public_bytes(serialization.Encoding.PEM).decode()

    async def certificate_signed(self, payload: dict[str, Any]) -> dict[str, Any]:
        await self.answer_signed.wait()
        kind = payload.get("certificateType") or "ChargingStationCertificate"
        chain = x509.load_pem_x509_certificates(payload["certificateChain"].encode())
        key = self.keys.get(kind)
        mine = key is not None and chain[0].public_key() == key.public_key()
        self.signed.append(kind if mine else f"{kind} (not for my key)")
        if not mine:
            return {"status": "Rejected"}
        self.chains[kind] = chain
        return {"status": "Accepted"}

    def install(self, payload: dict[str, Any]) -> dict[str, Any]:
        cert = x509.load_pem_x509_certificate(payload["certificate"].encode())
        self.roots.setdefault(payload["certificateType"], []).append(cert)
        return {"status": "Accepted"}

    def _issuer(self, cert: x509.Certificate, chain: list[x509.Certificate]) -> x509.Certificate:
        for candidate in [*chain, *(c for certs in self.roots.values() for c in certs)]:
            if candidate.subject == cert.issuer:
                return candidate
        raise AssertionError(f"no issuer for {cert.subject.rfc4514_string()}")

    def installed_ids(self, payload: dict[str, Any]) -> dict[str, Any]:
        types = payload.get("certificateType") or [*ROOT_TYPES, "V2GCertificateChain"]
        out = []
        for kind in types:
            if kind in ROOT_TYPES:
                out += [{"certificateType": kind, "certificateHashData": hash_data(c, c)}
                        for c in self.roots.get(kind, [])]
            elif kind == "V2GCertificateChain" and "V2GCertificate" in self.chains:
                chain = self.chains["V2GCertificate"]
                entry: dict[str, Any] = {"certificateType": kind, "certificateHashData":
                                         hash_data(chain[0], self._issuer(chain[0], chain))}
                if len(chain) > 1:
                    entry["childCertificateHashData"] = [
                        hash_data(c, self._issuer(c, chain)) for c in chain[1:]]
                out.append(entry)
        if not out:
            return {"status": "NotFound"}
        return {"status": "Accepted", "certificateHashDataChain": out}

    def delete(self, payload: dict[str, Any]) -> dict[str, Any]:
        wanted = {k: str(v).lower() for k, v in payload["certificateHashData"].items()}
        for _kind, certs in self.roots.items():
            for cert in certs:
                mine = {k: v.lower() for k, v in hash_data(cert, cert).items()}
                if mine == wanted:
                    certs.remove(cert)
                    return {"status": "Accepted"}
        return {"status": "NotFound"}


class Charger16(ChargePoint16):
    """OCPP 1.6 with the Plug&Charge tunnel."""

    __test__ = False

    def __init__(self, station_id: str, connection: Any, wallet: Wallet) -> None:
        super().__init__(station_id, connection, response_timeout=15)
        self.wallet = wallet
        #: (direction, kind) of every frame received, in order: "call:<Action>[/<messageId>]"
        #: or "result".
        self.frames: list[str] = []
        self.tunnel_received: list[tuple[str, dict[str, Any]]] = []
        self.answer_triggers = True
        self.sign_answers: list[tuple[str, dict[str, Any] | None]] = []
        #: messageId -> (DataTransfer status, raw data) to answer instead of the wallet.
        self.tunnel_override: dict[str, tuple[str, str | None]] = {}

    async def route_message(self, raw_msg: str) -> None:
        msg = json.loads(raw_msg)
        if msg[0] == 2:
            extra = f"/{msg[3].get('messageId')}" if msg[2] == "DataTransfer" else ""
            self.frames.append(f"call:{msg[2]}{extra}")
        else:
            self.frames.append("result")
        await super().route_message(raw_msg)

    async def boot(self) -> Any:
        return await self.call(call16.BootNotification(
            charge_point_vendor="ACME", charge_point_model="ISO15118 Wallbox"))

    async def tunnel(self, message_id: str, payload: dict[str, Any] | str
                     ) -> tuple[str, dict[str, Any] | None]:
        data = payload if isinstance(payload, str) else json.dumps(payload)
        answer = await self.call(call16.DataTransfer(vendor_id=VENDOR, message_id=message_id,
                                                     data=data))
        return answer.status, json.loads(answer.data) if answer.data else None

    async def sign_v2g(self, cn: str | None = None) -> tuple[str, dict[str, Any] | None]:
        answer = await self.tunnel("SignCertificate", {
            "csr": self.wallet.csr("V2GCertificate", cn), "certificateType": "V2GCertificate"})
        self.sign_answers.append(answer)
        return answer

    @on(Action16.data_transfer)
    async def on_data_transfer(self, vendor_id: str, message_id: str | None = None,
                               data: str | None = None) -> Any:
        if vendor_id != VENDOR:
            return result16.DataTransfer(status="UnknownVendorId")
        payload = json.loads(data or "{}")
        self.tunnel_received.append((message_id or "", payload))
        if message_id in self.tunnel_override:
            status, raw = self.tunnel_override[message_id]
            return result16.DataTransfer(status=status, data=raw)
        wallet = self.wallet
        if message_id == "CertificateSigned":
            answer = await wallet.certificate_signed(payload)
        elif message_id == "InstallCertificate":
            answer = wallet.install(payload)
        elif message_id == "GetInstalledCertificateIds":
            answer = wallet.installed_ids(payload)
        elif message_id == "DeleteCertificate":
            answer = wallet.delete(payload)
        elif message_id == "TriggerMessage":
            answer = {"status": "Accepted"}
        else:
            return result16.DataTransfer(status="UnknownMessageId")
        return result16.DataTransfer(status="Accepted", data=json.dumps(answer))

    @after(Action16.data_transfer)
    async def after_data_transfer(self, vendor_id: str, message_id: str | None = None,
                                  data: str | None = None) -> None:
        if vendor_id == VENDOR and message_id == "TriggerMessage" and self.answer_triggers \
                and json.loads(data or "{}").get("requestedMessage") == "SignV2GCertificate":
            await self.sign_v2g()

    @on(Action16.extended_trigger_message)
    def on_extended_trigger(self, requested_message: str, **kw: Any) -> Any:
        return result16.ExtendedTriggerMessage(status="Accepted")

    @after(Action16.extended_trigger_message)
    async def after_extended_trigger(self, requested_message: str, **kw: Any) -> None:
        if requested_message == "SignChargePointCertificate" and self.answer_triggers:
            await self.call(call16.SignCertificate(
                csr=self.wallet.csr("ChargingStationCertificate")))

    @on(Action16.certificate_signed)
    async def on_certificate_signed(self, certificate_chain: str) -> Any:
        answer = await self.wallet.certificate_signed({"certificateChain": certificate_chain})
        return result16.CertificateSigned(status=answer["status"])


class Charger201(ChargePoint201):
    """Native OCPP 2.0.1."""

    __test__ = False

    def __init__(self, station_id: str, connection: Any, wallet: Wallet) -> None:
        super().__init__(station_id, connection, response_timeout=15)
        self.wallet = wallet
        self.answer_triggers = True
        self.sign_answers: list[Any] = []

    async def boot(self) -> Any:
        return await self.call(call201.BootNotification(
            charging_station={"vendor_name": "ACME", "model": "ISO15118 201"},
            reason="PowerUp"))

    async def sign(self, certificate_type: str, cn: str | None = None) -> Any:
        answer = await self.call(call201.SignCertificate(
            csr=self.wallet.csr(certificate_type, cn), certificate_type=certificate_type))
        self.sign_answers.append(answer)
        return answer

    @on(Action201.certificate_signed)
    async def on_certificate_signed(self, **kw: Any) -> Any:
        answer = await self.wallet.certificate_signed(to_camel(kw))
        return result201.CertificateSigned(status=answer["status"])

    @on(Action201.install_certificate)
    def on_install_certificate(self, **kw: Any) -> Any:
        return result201.InstallCertificate(**to_snake(self.wallet.install(to_camel(kw))))

    @on(Action201.get_installed_certificate_ids)
    def on_get_installed(self, **kw: Any) -> Any:
        return result201.GetInstalledCertificateIds(
            **to_snake(self.wallet.installed_ids(to_camel(kw))))

    @on(Action201.delete_certificate)
    def on_delete(self, **kw: Any) -> Any:
        return result201.DeleteCertificate(**to_snake(self.wallet.delete(to_camel(kw))))

    @on(Action201.trigger_message)
    def on_trigger(self, **kw: Any) -> Any:
        return result201.TriggerMessage(status="Accepted")

    @after(Action201.trigger_message)
    async def after_trigger(self, requested_message: str, **kw: Any) -> None:
        kinds = {"SignV2GCertificate": "V2GCertificate",
                 "SignChargingStationCertificate": "ChargingStationCertificate"}
        if requested_message in kinds and self.answer_triggers:
            await self.sign(kinds[requested_message])


class Charger21(Charger201):
    """The native charger speaking OCPP 2.1 (its messages checked against the 2.1 schemas)."""

    __test__ = False
    _ocpp_version = "2.1"
    _call = call21
    _call_result = result21


@contextlib.asynccontextmanager
async def connect(running: RunningHub, station_id: str, wallet: Wallet,
                  version: str = "1.6") -> AsyncIterator[Any]:
    subprotocol = f"ocpp{version}"
    cls = {"1.6": Charger16, "2.0.1": Charger201, "2.1": Charger21}[version]
    async with websockets.connect(running.ws_url(station_id), subprotocols=[subprotocol],
                                  open_timeout=10) as ws:
        async with running_charge_point(cls(station_id, ws, wallet)) as charger:
            yield charger

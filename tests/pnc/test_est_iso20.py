"""EST enrolment for ISO 15118-20: the ISO-version path segment (and the -20 message namespace)
as OPCP's EST reference defines them, checked by the EST double; the settings refuse a curve
the ISO version does not use."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from certs import profiles as P
from pnc.opcp import EstClient, TokenProvider
from pnc.settings import PncSettings
from tests.pnc.doubles import Opcp


async def test_simpleenroll_carries_the_iso_version(opcp: Opcp) -> None:
    async with aiohttp.ClientSession() as http:
        settings: dict[str, Any] = opcp.hub_settings()
        tokens = TokenProvider(lambda: http, settings["opcp_token_url"], opcp.client_id,
                               opcp.client_secret, opcp.url)
        key = ec.generate_private_key(ec.SECP256R1())
        csr = x509.CertificateSigningRequestBuilder().subject_name(P.build_name(
            "DE*PNC*E2020*1", "pnc-hub Test CPO", "DE", "CPO")).sign(key, hashes.SHA256())
        for iso, algorithm in (("ISO15118-20", "secp521r1"), ("ISO15118-2", "secp256r1")):
            client = EstClient(lambda: http, opcp.url, tokens, iso_version=iso,
                               algorithm=algorithm)
            issued = await client.simple_enroll(csr.public_bytes(Encoding.DER))
            assert issued[0].public_key() == key.public_key()
    assert opcp.est_paths == [
        "/.well-known/est/cpo/simpleenroll/ISO15118-20"
        "?xsdMsgDefNamespace=urn:iso:15118:20:2020:MsgDef",
        "/.well-known/est/cpo/simpleenroll/ISO15118-2"]


def test_settings_match_curves_to_the_iso_version() -> None:
    PncSettings.from_mapping({"est_iso_version": "ISO15118-20", "est_algorithm": "ed448"})
    with pytest.raises(ValueError, match="est_algorithm"):
        PncSettings.from_mapping({"est_iso_version": "ISO15118-20"})  # secp256r1 is -2's
    with pytest.raises(ValueError, match="est_iso_version"):
        PncSettings.from_mapping({"est_iso_version": "ISO15118-21"})

"""The tunnel codec checks inner payloads with the `ocpp` 2.0.1 schemas in both directions."""

from __future__ import annotations

import json

import pytest

from pnc.settings import PncSettings
from pnc.tunnel import (
    TunnelError,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
)


def test_requests_from_the_charger() -> None:
    payload = {"ocspRequestData": {"hashAlgorithm": "SHA256", "issuerNameHash": "ab",
                                   "issuerKeyHash": "cd", "serialNumber": "1",
                                   "responderURL": "http://x"}}
    assert decode_request("GetCertificateStatus", json.dumps(payload)) == payload
    cases = [("Heartbeat", "{}", "UnknownMessageId", "unknown_message_id"),
             ("CertificateSigned", "{}", "UnknownMessageId", "unknown_message_id"),
             (None, "{}", "UnknownMessageId", "unknown_message_id"),
             ("SignCertificate", None, "Rejected", "data_missing"),
             ("SignCertificate", "{", "Rejected", "data_not_json"),
             ("SignCertificate", '"csr"', "Rejected", "data_not_object"),
             ("SignCertificate", "{}", "Rejected", "OccurrenceConstraintViolation"),
             ("SignCertificate", '{"csr": "x", "extra": 1}', "Rejected", "FormatViolation"),
             ("SignCertificate", json.dumps({"csr": "x" * 5501}), "Rejected",
              "TypeConstraintViolation")]
    for message_id, data, status, reason in cases:
        with pytest.raises(TunnelError) as error:
            decode_request(message_id, data)
        assert (error.value.status, error.value.reason) == (status, reason), (message_id, data)


def test_answers_and_requests_of_the_hub() -> None:
    assert json.loads(encode_response("SignCertificate", {"status": "Accepted"})) == {
        "status": "Accepted"}
    with pytest.raises(TunnelError):
        encode_response("SignCertificate", {"status": "Perhaps"})
    text = encode_request("TriggerMessage", {"requestedMessage": "SignV2GCertificate"})
    assert json.loads(text) == {"requestedMessage": "SignV2GCertificate"}
    with pytest.raises(TunnelError) as error:
        encode_request("Reset", {"type": "Immediate"})
    assert error.value.status == "UnknownMessageId"
    with pytest.raises(TunnelError):
        encode_request("InstallCertificate", {"certificateType": "Bogus", "certificate": "x"})
    assert decode_response("DeleteCertificate", '{"status": "NotFound"}') == {
        "status": "NotFound"}
    with pytest.raises(TunnelError):
        decode_response("DeleteCertificate", '{"status": "Gone"}')


def test_settings_name_the_bad_key() -> None:
    assert PncSettings.from_mapping({"renew_within_days": "14", "auto_rollout": "false",
                                     "rollout_roots": "V2GRootCertificate"}).rollout_roots == (
        "V2GRootCertificate",)
    for bad, text in (({"renew_within": 3}, "renew_within"),
                      ({"v2g_signer": "hsm"}, "v2g_signer"),
                      ({"v2g_signer": "est"}, "est_url"),
                      ({"auto_rollout": "maybe"}, "auto_rollout"),
                      ({"ocsp_unreachable": "ignore"}, "ocsp_unreachable")):
        with pytest.raises(ValueError, match=text):
            PncSettings.from_mapping(bad)
    assert "secret" not in repr(PncSettings(opcp_client_secret="secret"))

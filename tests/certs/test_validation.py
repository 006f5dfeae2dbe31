"""Chain validation against a test PKI built with plain openssl commands, and against the dev
PKI; every refusal asserted with its exact AuthorizeCertificateStatus and reason."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives import serialization

from certs.issuing import CertificateKind
from certs.roles import CertificateRole as R
from certs.validation import AuthorizeCertificateStatus as S
from certs.validation import ChainValidator, ValidationUse

from .conftest import CPO, OpensslPki, make_csr, needs_openssl, pem

pytestmark = needs_openssl


@pytest.fixture(scope="module")
def validator(openssl_pki: OpensslPki) -> ChainValidator:
    return ChainValidator({
        R.V2G_ROOT: [openssl_pki.cert("v2g_root")],
        R.MO_ROOT: [openssl_pki.cert("mo_root")],
    })


def _chain(p: OpensslPki, leaf: str, *subs: str) -> bytes:
    return pem(*p.certs(leaf, *subs))


def test_openssl_secc_chain_is_accepted(validator: ChainValidator, openssl_pki: OpensslPki):
    result = validator.validate_path(_chain(openssl_pki, "secc", "cpo_sub2", "cpo_sub1"),
                                     ValidationUse.SECC)
    assert (result.status, result.reason) == (S.ACCEPTED, "ok")
    assert [c.subject.rfc4514_string() for c in result.chain][-1].startswith("DC=V2G")
    assert len(result.chain) == 4


def test_openssl_contract_chain_is_accepted_with_emaid(validator: ChainValidator,
                                                       openssl_pki: OpensslPki):
    result = validator.validate_path(_chain(openssl_pki, "contract", "mo_sub2", "mo_sub1"),
                                     ValidationUse.CONTRACT)
    assert (result.status, result.reason) == (S.ACCEPTED, "ok")
    assert result.emaid == "DETSTC123456789"


def _tamper(der: bytes, offset: int) -> bytes:
    data = bytearray(der)
    data[offset] ^= 0x01
    return bytes(data)


def test_tampered_signature_is_signature_error(validator: ChainValidator,
                                               openssl_pki: OpensslPki):
    der = openssl_pki.cert("secc").public_bytes(serialization.Encoding.DER)
    tampered = _tamper(der, len(der) - 3)  # inside the ECDSA signature value
    result = validator.validate_path([tampered, *[c.public_bytes(serialization.Encoding.DER)
                                                  for c in openssl_pki.certs("cpo_sub2",
                                                                             "cpo_sub1")]],
                                     ValidationUse.SECC)
    assert (result.status, result.reason) == (S.SIGNATURE_ERROR, "signature_invalid")


def test_tampered_subject_is_signature_error(validator: ChainValidator,
                                             openssl_pki: OpensslPki):
    der = openssl_pki.cert("secc").public_bytes(serialization.Encoding.DER)
    offset = der.index(b"E1234*1")
    tampered = der[:offset] + b"E9999*1" + der[offset + 7:]
    result = validator.validate_path(
        [tampered] + [c.public_bytes(serialization.Encoding.DER)
                      for c in openssl_pki.certs("cpo_sub2", "cpo_sub1")],
        ValidationUse.SECC)
    assert (result.status, result.reason) == (S.SIGNATURE_ERROR, "signature_invalid")


def test_expired_leaf_is_certificate_expired(validator: ChainValidator,
                                             openssl_pki: OpensslPki):
    result = validator.validate_path(_chain(openssl_pki, "secc_expired", "cpo_sub2", "cpo_sub1"),
                                     ValidationUse.SECC)
    assert (result.status, result.reason) == (S.CERTIFICATE_EXPIRED, "expired")
    assert "2020-03-01" in result.message


def test_leaf_expired_later_in_time(validator: ChainValidator, openssl_pki: OpensslPki):
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=61)
    result = validator.validate_path(_chain(openssl_pki, "secc", "cpo_sub2", "cpo_sub1"),
                                     ValidationUse.SECC, at=later)
    assert (result.status, result.reason) == (S.CERTIFICATE_EXPIRED, "expired")


def test_not_yet_valid_is_chain_error(validator: ChainValidator, openssl_pki: OpensslPki):
    earlier = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    result = validator.validate_path(_chain(openssl_pki, "secc", "cpo_sub2", "cpo_sub1"),
                                     ValidationUse.SECC, at=earlier)
    assert (result.status, result.reason) == (S.CERT_CHAIN_ERROR, "not_yet_valid")


def test_secc_leaf_used_as_contract_is_chain_error(validator: ChainValidator,
                                                   openssl_pki: OpensslPki):
    result = validator.validate_path(_chain(openssl_pki, "secc", "cpo_sub2", "cpo_sub1"),
                                     ValidationUse.CONTRACT)
    assert (result.status, result.reason) == (S.CERT_CHAIN_ERROR, "leaf_domain_component")


def test_contract_used_as_secc_is_chain_error(validator: ChainValidator,
                                              openssl_pki: OpensslPki):
    # The MO root is no anchor for SECC certificates: the chain cannot be built.
    result = validator.validate_path(_chain(openssl_pki, "contract", "mo_sub2", "mo_sub1"),
                                     ValidationUse.SECC)
    assert (result.status, result.reason) == (S.CERT_CHAIN_ERROR, "issuer_not_found")


def test_leaf_with_cert_sign_usage_is_chain_error(validator: ChainValidator,
                                                  openssl_pki: OpensslPki):
    result = validator.validate_path(
        _chain(openssl_pki, "secc_wrong_usage", "cpo_sub2", "cpo_sub1"), ValidationUse.SECC)
    assert (result.status, result.reason) == (S.CERT_CHAIN_ERROR, "leaf_key_usage")


def test_too_deep_chain_is_chain_error(validator: ChainValidator, openssl_pki: OpensslPki):
    result = validator.validate_path(
        _chain(openssl_pki, "deep_leaf", "deep_b", "deep_a", "cpo_sub1"), ValidationUse.SECC)
    assert (result.status, result.reason) == (S.CERT_CHAIN_ERROR, "iso_chain_too_long")


def test_untrusted_root_is_chain_error(validator: ChainValidator, openssl_pki: OpensslPki):
    result = validator.validate_path(_chain(openssl_pki, "other_leaf", "other_sub", "other_root"),
                                     ValidationUse.SECC)
    assert (result.status, result.reason) == (S.CERT_CHAIN_ERROR, "untrusted_root")


def test_impostor_sub_ca_with_trusted_names_is_signature_error(validator: ChainValidator,
                                                               openssl_pki: OpensslPki):
    # Same names as the real Sub-CA 2 and root, different keys.
    result = validator.validate_path(_chain(openssl_pki, "other_leaf", "other_sub"),
                                     ValidationUse.SECC)
    assert (result.status, result.reason) == (S.SIGNATURE_ERROR, "signature_invalid")


def test_missing_intermediate_is_chain_error(validator: ChainValidator,
                                             openssl_pki: OpensslPki):
    result = validator.validate_path(_chain(openssl_pki, "secc", "cpo_sub2"), ValidationUse.SECC)
    assert (result.status, result.reason) == (S.CERT_CHAIN_ERROR, "issuer_not_found")


@pytest.mark.parametrize(("data", "status", "reason"), [
    (b"", S.NO_CERTIFICATE_AVAILABLE, "no_certificate"),
    ([], S.NO_CERTIFICATE_AVAILABLE, "no_certificate"),
    (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", S.CERT_CHAIN_ERROR,
     "certificate_malformed"),
    (b"\x30\x03\x02\x01\x01", S.CERT_CHAIN_ERROR, "certificate_malformed"),
])
def test_no_or_garbage_certificate(validator: ChainValidator, data: object, status: S,
                                   reason: str):
    result = validator.validate_path(data, ValidationUse.CONTRACT)  # type: ignore[arg-type]
    assert (result.status, result.reason) == (status, reason)


def test_no_anchor_for_use(openssl_pki: OpensslPki):
    result = ChainValidator({}).validate_path(_chain(openssl_pki, "secc", "cpo_sub2", "cpo_sub1"),
                                              ValidationUse.SECC)
    assert (result.status, result.reason) == (S.CERT_CHAIN_ERROR, "no_trust_anchor")


async def test_known_ca_path_fast_path_still_checks_each_leaf(pki):
    validator = await ChainValidator.from_store(pki.store)
    chains = []
    for n in range(2):
        csr, _ = make_csr(f"DE*PNC*E{n}")
        chains.append((await pki.issuer.issue_from_csr(csr)).chain)
    first = validator.validate_path(chains[0], ValidationUse.SECC)
    assert first.accepted and len(validator._paths) == 1
    second = validator.validate_path(chains[1], ValidationUse.SECC)
    assert second.accepted and len(second.chain) == 4
    der = chains[1][0].public_bytes(serialization.Encoding.DER)
    bad = _tamper(der, len(der) - 3)
    rest = [c.public_bytes(serialization.Encoding.DER) for c in chains[1][1:]]
    assert validator.validate_path([bad, *rest], ValidationUse.SECC).status is S.SIGNATURE_ERROR
    late = dt.datetime.now(dt.UTC) + dt.timedelta(days=400 * 3)
    assert validator.validate_path(chains[1], ValidationUse.SECC, at=late).status is \
        S.CERTIFICATE_EXPIRED


async def test_dev_pki_chains_validate_for_their_use(pki):
    validator = await ChainValidator.from_store(pki.store)
    contract = [pki[R.CONTRACT], pki[R.MO_SUB_CA2], pki[R.MO_SUB_CA1]]
    assert validator.validate_path(contract, ValidationUse.CONTRACT).emaid == "DEPNCC00000001"
    provisioning = [pki[R.OEM_PROVISIONING], pki[R.OEM_SUB_CA2], pki[R.OEM_SUB_CA1]]
    assert validator.validate_path(provisioning, ValidationUse.OEM_PROVISIONING).accepted
    result = validator.validate_path(provisioning, ValidationUse.CONTRACT)
    assert (result.status, result.reason) == (S.CERT_CHAIN_ERROR, "issuer_not_found")


async def test_station_certificate_validates_as_station_only(pki):
    validator = await ChainValidator.from_store(pki.store)
    csr, _ = make_csr("CP-0001", o=CPO, dc=None)
    issued = await pki.issuer.issue_from_csr(csr, kind=CertificateKind.STATION,
                                             station_id="CP-0001")
    assert validator.validate_path(issued.chain, ValidationUse.CHARGING_STATION).accepted
    result = validator.validate_path(issued.chain, ValidationUse.SECC)
    assert (result.status, result.reason) == (S.CERT_CHAIN_ERROR, "issuer_not_found")


async def test_contract_cancelled_hook(pki):
    async def cancelled(emaid: str) -> bool:
        return emaid == "DEPNCC00000001"

    validator = await ChainValidator.from_store(pki.store, is_contract_cancelled=cancelled)
    result = await validator.validate([pki[R.CONTRACT], pki[R.MO_SUB_CA2], pki[R.MO_SUB_CA1]],
                                      ValidationUse.CONTRACT)
    assert (result.status, result.reason) == (S.CONTRACT_CANCELLED, "contract_cancelled")


async def test_revoked_anchor_is_not_trusted(pki):
    from certs.store import fingerprint_of

    await pki.store.revoke_certificate(fingerprint_of(pki[R.MO_ROOT]),
                                       revoked_at=dt.datetime.now(dt.UTC), reason="keyCompromise")
    validator = await ChainValidator.from_store(pki.store)
    result = validator.validate_path([pki[R.CONTRACT], pki[R.MO_SUB_CA2], pki[R.MO_SUB_CA1]],
                                     ValidationUse.CONTRACT)
    assert (result.status, result.reason) == (S.CERT_CHAIN_ERROR, "issuer_not_found")


def test_ca_certificate_as_leaf_is_chain_error(validator: ChainValidator,
                                               openssl_pki: OpensslPki):
    result = validator.validate_path(_chain(openssl_pki, "cpo_sub2", "cpo_sub1"),
                                     ValidationUse.SECC)
    assert (result.status, result.reason) == (S.CERT_CHAIN_ERROR, "leaf_basic_constraints")

"""The pki parser's literal choices (kept free of cryptography imports) match the enums."""

from __future__ import annotations

from certs.cli_args import CERTIFICATE_KINDS, HASH_ALGORITHMS
from certs.hashdata import HashAlgorithm
from certs.issuing import CertificateKind


def test_literal_choices_match_the_enums() -> None:
    assert CERTIFICATE_KINDS == tuple(kind.value for kind in CertificateKind)
    assert HASH_ALGORITHMS == tuple(algorithm.value for algorithm in HashAlgorithm)

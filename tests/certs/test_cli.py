"""The pki verbs, through ``python3 -m certs`` on a file store."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certs.__main__ import main
from certs.cli import add_pki_parser
from certs.hashdata import compute_hash_data
from certs.store import FileStore

from .conftest import CPO, OpensslPki, make_csr, needs_openssl, openssl

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    config = tmp_path / "hub.toml"
    config.write_text(f'[pki]\ncpo_name = "{CPO}"\nocsp_url = "http://127.0.0.1:9751/ocsp"\n')
    return tmp_path / "pki"


def run(store_dir: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["--store-dir", str(store_dir), "--config", str(store_dir.parent / "hub.toml"),
                 "pki", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_python_m_certs_runs_init_dev(store_dir: Path):
    proc = subprocess.run(
        [sys.executable, "-m", "certs", "--store-dir", str(store_dir), "--config",
         str(store_dir.parent / "hub.toml"), "pki", "init-dev"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    assert "CPOSubCA2" in proc.stdout and "PRIVATE KEY" not in proc.stdout + proc.stderr
    keys = store_dir / "keys"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in keys.iterdir())


def test_init_dev_twice_needs_force(store_dir: Path, capsys):
    assert run(store_dir, "init-dev", capsys=capsys)[0] == 0
    code, _, err = run(store_dir, "init-dev", capsys=capsys)
    assert code == 1 and "pki_exists" in err
    assert run(store_dir, "init-dev", "--force", capsys=capsys)[0] == 0


@needs_openssl
def test_issue_prints_chain_leaf_first(store_dir: Path, tmp_path: Path, capsys):
    run(store_dir, "init-dev", capsys=capsys)
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "k.pem", "-subj", f"/CN=DE*PNC*E42*1/O={CPO}/C=DE/DC=CPO", "-out",
            "csr.pem", cwd=tmp_path)
    FileStore(store_dir).set_station_identities("CP-42", ["DE*PNC*E42*1"])
    code, out, err = run(store_dir, "issue", "--csr", str(tmp_path / "csr.pem"), "--station",
                         "CP-42", capsys=capsys)
    assert code == 0, err
    chain = x509.load_pem_x509_certificates(out.encode())
    assert [c.subject.rfc4514_string().split(",")[-1] for c in chain] == [
        "CN=DE*PNC*E42*1", f"CN={CPO} CPO Sub-CA 2", f"CN={CPO} CPO Sub-CA 1"]
    (tmp_path / "leaf.pem").write_bytes(out.encode().split(b"-----END CERTIFICATE-----")[0]
                                        + b"-----END CERTIFICATE-----\n")
    (tmp_path / "chain.pem").write_text(out)
    roots = json.loads("[" + ",".join(
        run(store_dir, "list", "--role", "V2GRootCertificate", "--json", capsys=capsys)[1]
        .splitlines()) + "]")
    assert len(roots) == 1
    root_record = asyncio.run(FileStore(store_dir).get_certificate(roots[0]["fingerprint"]))
    (tmp_path / "root.pem").write_bytes(
        x509.load_der_x509_certificate(root_record.der).public_bytes(serialization.Encoding.PEM))
    verified = openssl("verify", "-CAfile", "root.pem", "-untrusted", "chain.pem", "leaf.pem",
                       cwd=tmp_path)
    assert verified.stdout.strip() == "leaf.pem: OK"

    listed = [json.loads(line) for line in
              run(store_dir, "list", "--expiring", "61", "--json", capsys=capsys)[1].splitlines()]
    assert [(r["role"], r["stationId"], r["status"]) for r in listed] == [
        ("V2GCertificate", "CP-42", "valid")]
    assert run(store_dir, "list", "--expiring", "30", "--json", capsys=capsys)[1] == ""

    serial = listed[0]["serial"]
    code, out, _ = run(store_dir, "revoke", serial, "--reason", "keyCompromise", capsys=capsys)
    assert code == 0 and "keyCompromise" in out
    listed = [json.loads(line) for line in
              run(store_dir, "list", "--json", capsys=capsys)[1].splitlines()]
    assert {r["serial"]: r["status"] for r in listed}[serial] == "revoked"
    table = run(store_dir, "list", capsys=capsys)[1]
    assert table.splitlines()[0].split()[:2] == ["ROLE", "SERIAL"] and "revoked" in table


def test_refused_csr_exits_nonzero_with_reason(store_dir: Path, tmp_path: Path, capsys):
    run(store_dir, "init-dev", capsys=capsys)
    csr, _ = make_csr("DE*PNC*E1", dc="MO")
    (tmp_path / "csr.pem").write_bytes(csr)
    code, out, err = run(store_dir, "issue", "--csr", str(tmp_path / "csr.pem"), capsys=capsys)
    assert code == 1 and out == ""
    assert err.startswith("error: subject_dc_mismatch: DC must be 'CPO'")
    (tmp_path / "station.pem").write_bytes(make_csr("CP-9", dc=None)[0])
    code, out, err = run(store_dir, "issue", "--csr", str(tmp_path / "station.pem"), "--type",
                         "station", "--station", "CP-8", capsys=capsys)
    assert code == 1 and out == "" and "subject_cn_not_station" in err


def test_issue_without_ca(store_dir: Path, tmp_path: Path, capsys):
    (tmp_path / "csr.pem").write_bytes(make_csr("DE*PNC*E1")[0])
    code, out, err = run(store_dir, "issue", "--csr", str(tmp_path / "csr.pem"), capsys=capsys)
    assert code == 1 and out == "" and "no_issuer" in err


@needs_openssl
def test_hash_prints_ocpp_json(openssl_pki: OpensslPki, store_dir: Path, capsys):
    code, out, _ = run(store_dir, "hash", str(openssl_pki.path("secc.pem")), "--issuer",
                       str(openssl_pki.path("cpo_sub2.pem")), capsys=capsys)
    assert code == 0
    data = json.loads(out)
    assert list(data) == ["hashAlgorithm", "issuerNameHash", "issuerKeyHash", "serialNumber"]
    assert data == compute_hash_data(openssl_pki.cert("secc"),
                                     openssl_pki.cert("cpo_sub2")).to_ocpp()
    code, out, _ = run(store_dir, "hash", str(openssl_pki.path("secc.pem")), "--issuer",
                       str(openssl_pki.path("cpo_sub2.pem")), "--algorithm", "SHA512",
                       capsys=capsys)
    assert json.loads(out)["hashAlgorithm"] == "SHA512" and len(json.loads(out)[
        "issuerKeyHash"]) == 128


@needs_openssl
def test_import_verb(openssl_pki: OpensslPki, store_dir: Path, tmp_path: Path, capsys,
                     monkeypatch):
    openssl("pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", str(openssl_pki.path("cpo_sub2.key")),
            "-passout", "pass:from-env", "-out", str(tmp_path / "sub2.p8"))
    (tmp_path / "chain.pem").write_bytes(openssl_pki.path("cpo_sub2.pem").read_bytes()
                                         + openssl_pki.path("cpo_sub1.pem").read_bytes())
    monkeypatch.setenv("PNC_HUB_PKI__KEY_PASSPHRASE", "from-env")
    code, out, err = run(store_dir, "import", "--chain", str(tmp_path / "chain.pem"), "--key",
                         str(tmp_path / "sub2.p8"), capsys=capsys)
    assert code == 0, err
    assert "OpenSSL CPO Sub-CA 2" in out and "V2G root" in err
    assert "from-env" not in out + err
    monkeypatch.setenv("PNC_HUB_PKI__KEY_PASSPHRASE", "wrong")
    code, _, err = run(store_dir, "import", "--chain", str(tmp_path / "chain.pem"), "--key",
                       str(tmp_path / "sub2.p8"), capsys=capsys)
    assert code == 1 and "key_bad_passphrase" in err


def test_parser_mounts_under_a_host_cli_with_common_options():
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--database-url")
    common.add_argument("--config")
    host = argparse.ArgumentParser(prog="pnc-hub")
    add_pki_parser(host.add_subparsers(dest="command"), parents=[common])
    args = host.parse_args(["pki", "issue", "--csr", "x.pem", "--type", "station", "--station",
                            "CP-1", "--database-url", "sqlite+aiosqlite:///x.db"])
    assert (args.command, args.pki_command, args.kind, args.station, args.database_url) == (
        "pki", "issue", "station", "CP-1", "sqlite+aiosqlite:///x.db")
    for verb in (["init-dev"], ["import", "--chain", "a", "--key", "b"], ["revoke", "ab"],
                 ["list", "--expiring", "7"], ["hash", "c", "--issuer", "i"]):
        assert host.parse_args(["pki", *verb, "--config", "hub.toml"]).config == "hub.toml"

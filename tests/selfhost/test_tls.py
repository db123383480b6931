"""TLS as Firefox would meet it: a self-signed certificate, one for another name, an
expired one — each a server.tls finding in one line that names the problem — and a
certificate the client trusts, which passes to the next link."""

from __future__ import annotations

import datetime as dt
import http.server
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from synctools.doctor import check_server

from .conftest import _Page, assert_one_line, run_cli

NOW = dt.datetime.now(dt.UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, issuer_key: Any, issuer: str, key: Any, *, ca: bool = False, days: tuple[int, int] = (-1, 30),
          san: str | None = None) -> x509.Certificate:  # fmt: skip
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(NOW + dt.timedelta(days=days[0])).not_valid_after(NOW + dt.timedelta(days=days[1]))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))  # fmt: skip
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(obj: Any) -> bytes:
    if isinstance(obj, x509.Certificate):
        return obj.public_bytes(serialization.Encoding.PEM)
    return obj.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture(scope="module")
def ca(tmp_path_factory) -> tuple[Any, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    path.write_bytes(_pem(_cert("test CA", key, "test CA", key, ca=True)))
    return key, path


def _serve(tmp: Path, cert: x509.Certificate, key: Any) -> Iterator[int]:
    (tmp / "cert.pem").write_bytes(_pem(cert))
    (tmp / "key.pem").write_bytes(_pem(key))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def self_signed(tmp_path) -> Iterator[int]:
    key = ec.generate_private_key(ec.SECP256R1())
    yield from _serve(tmp_path, _cert("localhost", key, "localhost", key, san="localhost"), key)


@pytest.fixture
def issued(tmp_path, ca, request) -> Iterator[int]:
    ca_key, _ = ca
    key = ec.generate_private_key(ec.SECP256R1())
    name, days = request.param
    yield from _serve(tmp_path, _cert(name, ca_key, "test CA", key, san=name, days=days), key)


def test_a_self_signed_certificate(self_signed: int) -> None:
    line = assert_one_line(run_cli(["check-server", f"https://localhost:{self_signed}/1.0/sync/1.5"]))
    assert "server.tls" in line and "self-signed" in line


@pytest.mark.parametrize("issued, words", [(("sync.example.com", (-1, 30)), "another name"),
                                           (("localhost", (-30, -1)), "expired")], indirect=["issued"])  # fmt: skip
def test_certificates_firefox_would_refuse(issued: int, words: str, ca, monkeypatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca[1]))  # the CA is trusted: only the name or the date is wrong
    report = check_server(f"https://localhost:{issued}/1.0/sync/1.5")
    assert [f.check for f in report] == ["server.tls"]
    assert words in report.findings[0].explanation


@pytest.mark.parametrize("issued", [("localhost", (-1, 30))], indirect=True)
def test_a_trusted_certificate_passes_to_the_next_link(issued: int, ca, monkeypatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca[1]))
    report = check_server(f"https://localhost:{issued}/1.0/sync/1.5")
    assert [f.check for f in report] == ["server.not-sync"]  # TLS was fine; the page is not a tokenserver
    assert report.steps[0].name == "reach" and report.steps[0].status == "ok"

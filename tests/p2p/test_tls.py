"""wss:// links with a self-signed certificate made in the test."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.p2p.conftest import Cluster, eventually, make_node, running_mesh


@pytest.fixture
def tls(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context trusting only this certificate) for 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "warrantchain test validator")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client


async def test_mesh_over_tls(cluster5: Cluster, tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server, client = tls
    async with running_mesh(cluster5, range(3), scheme="wss", ssl_server=server, ssl_client=client) as nodes:
        assert nodes[0].mesh.broadcast(b"over tls") == 2
        await eventually(lambda: all(n.inbox == [(0, b"over tls")] for i, n in nodes.items() if i), "tls broadcast")


async def test_untrusted_certificate_is_not_linked(cluster5: Cluster, tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server, _ = tls
    async with running_mesh(cluster5, [1], ssl_server=server) as nodes:
        dialer = make_node(cluster5, 0, {1: f"wss://127.0.0.1:{nodes[1].mesh.port}"}, ssl_client=ssl.create_default_context())
        try:
            await dialer.mesh.start()
            await eventually(lambda: dialer.mesh.stats["dial_failures"] >= 2, "failed TLS dials")
            assert dialer.linked() == set() and nodes[1].linked() == set()
        finally:
            await dialer.mesh.stop()

"""A 4-validator network whose mesh runs over mutual TLS with a consortium CA, as docs/OPERATIONS.md sets it up."""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from node.kernel import crypto
from node.sdk.client import Wallet
from node.sdk.localnet import LocalNet

from .helpers import assert_same_chain, register_accounts


def _write(path: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


def _consortium_ca(directory: Path, members: int) -> None:
    """A CA and one certificate per member (serverAuth and clientAuth), like the openssl recipe."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "WarrantChain mesh CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    _write(directory / "ca", ca_key, ca)
    for index in range(members):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"v{index}")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), False)
            .sign(ca_key, hashes.SHA256())
        )
        _write(directory / f"tls-v{index}", key, cert)


async def test_mesh_over_mutual_tls_commits(tmp_path: Path) -> None:
    net = LocalNet(tmp_path / "net", 4)
    _consortium_ca(net.directory, 4)
    for index in range(4):
        config = net.directory / f"v{index}.toml"
        text = config.read_text().replace('"ws://', '"wss://')
        config.write_text(
            text.replace("\n[rpc]", f'\n[p2p.tls]\ncert = "tls-v{index}.crt"\nkey = "tls-v{index}.key"\nca = "ca.crt"\n\n[rpc]')
        )
    try:
        net.start_all()
        await net.wait_ready(timeout=60)
        admin = Wallet(crypto.load_key(net.directory / "admin.pem"), "warrant-local")
        results = await register_accounts(net, admin, 4)
        assert all(r["result"]["ok"] for r in results)
        await net.wait_height(max(r["height"] for r in results), timeout=20)
        await assert_same_chain(net, [0, 1, 2, 3])
        assert "wss://" in (net.directory / "v0.toml").read_text()
    finally:
        net.stop_all()

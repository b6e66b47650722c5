"""node.kernel.crypto: keys, signatures, addresses, key files; cross-checked with the independent `ecdsa` package."""

from __future__ import annotations

import hashlib
import os
import stat

import ecdsa
import pytest
from ecdsa.util import sigdecode_string, sigencode_string

from node.errors import CryptoError
from node.kernel import crypto


def test_sign_and_verify_roundtrip() -> None:
    key = crypto.generate_key()
    sig = key.sign(b"pay 100 fen")
    assert len(sig) == crypto.SIGNATURE_SIZE
    assert key.public_key.verify(sig, b"pay 100 fen")
    assert not key.public_key.verify(sig, b"pay 101 fen")
    assert crypto.verify(key.public_key.raw, sig, b"pay 100 fen")


def test_signatures_are_low_s() -> None:
    key = crypto.generate_key()
    n = ecdsa.NIST256p.order
    for i in range(50):
        s = int.from_bytes(key.sign(b"m%d" % i)[32:], "big")
        assert s <= n // 2


def test_signature_from_ecdsa_package_verifies_in_node() -> None:
    other = ecdsa.SigningKey.generate(curve=ecdsa.NIST256p, hashfunc=hashlib.sha256)
    pub = other.get_verifying_key().to_string("compressed")
    message = b"signed by an independent implementation"
    sig = other.sign(message, hashfunc=hashlib.sha256, sigencode=sigencode_string)
    assert crypto.verify(pub, sig, message)
    assert not crypto.verify(pub, sig, message + b"!")
    # The uncompressed encoding of the same key is accepted too and gives the same address.
    assert crypto.address_of(other.get_verifying_key().to_string("uncompressed")) == crypto.address_of(pub)


def test_signature_from_node_verifies_in_ecdsa_package() -> None:
    key = crypto.generate_key()
    message = b"signed by node.kernel.crypto"
    sig = key.sign(message)
    vk = ecdsa.VerifyingKey.from_string(key.public_key.raw, curve=ecdsa.NIST256p, hashfunc=hashlib.sha256)
    assert vk.verify(sig, message, hashfunc=hashlib.sha256, sigdecode=sigdecode_string)
    with pytest.raises(ecdsa.BadSignatureError):
        vk.verify(sig, b"other", hashfunc=hashlib.sha256, sigdecode=sigdecode_string)


def test_same_private_scalar_gives_same_key_in_both_implementations() -> None:
    key = crypto.generate_key()
    other = ecdsa.SigningKey.from_string(key.private_bytes(), curve=ecdsa.NIST256p)
    assert other.get_verifying_key().to_string("compressed") == key.public_key.raw
    assert crypto.SigningKey.from_private_bytes(key.private_bytes()).address == key.address


def test_address_format() -> None:
    key = crypto.generate_key()
    assert key.address == "wc" + hashlib.sha256(key.public_key.raw).digest()[:20].hex()
    assert crypto.check_address(key.address) == key.address


@pytest.mark.parametrize(
    "bad",
    [None, 42, "", "wc", "wx" + "0" * 40, "wc" + "0" * 39, "wc" + "0" * 41, "wc" + "G" * 40, "wc" + "A" * 40],
)
def test_malformed_addresses_are_refused(bad: object) -> None:
    with pytest.raises(CryptoError):
        crypto.check_address(bad)


@pytest.mark.parametrize(
    "pub",
    [b"", b"\x02" + b"\x00" * 31, b"\x02" + b"\xff" * 32, b"\x04" + b"\x01" * 64, b"\x05" + b"\x01" * 32, "02ab", None],
)
def test_malformed_public_keys_raise_crypto_error(pub: object) -> None:
    with pytest.raises(CryptoError):
        crypto.PublicKey.from_bytes(pub)  # type: ignore[arg-type]


def test_malformed_signatures_raise_crypto_error() -> None:
    key = crypto.generate_key()
    for sig in [b"", b"\x01" * 63, b"\x01" * 65, b"\x00" * 64, b"\xff" * 64, "ab" * 64]:
        with pytest.raises(CryptoError):
            key.public_key.verify(sig, b"m")  # type: ignore[arg-type]
    # A well-formed but wrong signature is simply False.
    assert not key.public_key.verify(b"\x01" * 64, b"m")


def test_sign_refuses_non_bytes() -> None:
    with pytest.raises(CryptoError):
        crypto.generate_key().sign("text")  # type: ignore[arg-type]


def test_private_scalar_out_of_range() -> None:
    for scalar in [b"\x00" * 32, b"\xff" * 32, b"\x01" * 31, "00" * 32]:
        with pytest.raises(CryptoError):
            crypto.SigningKey.from_private_bytes(scalar)  # type: ignore[arg-type]


def test_key_file_is_private_and_roundtrips(tmp_path) -> None:
    key = crypto.generate_key()
    path = tmp_path / "node.pem"
    crypto.save_key(path, key)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert crypto.load_key(path).address == key.address
    with pytest.raises(CryptoError, match="already exists"):
        crypto.save_key(path, crypto.generate_key())


def test_key_file_with_passphrase(tmp_path) -> None:
    key = crypto.generate_key()
    path = tmp_path / "enc.pem"
    crypto.save_key(path, key, passphrase=b"correct horse")
    assert b"ENCRYPTED" in path.read_bytes()
    assert crypto.load_key(path, passphrase=b"correct horse").address == key.address
    with pytest.raises(CryptoError):
        crypto.load_key(path, passphrase=b"wrong")
    with pytest.raises(CryptoError, match="encrypted|password|Password"):
        crypto.load_key(path)


def test_bad_key_files(tmp_path) -> None:
    with pytest.raises(CryptoError, match="cannot read"):
        crypto.load_key(tmp_path / "missing.pem")
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"not a key")
    with pytest.raises(CryptoError, match="not a readable PEM"):
        crypto.load_key(junk)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    other = tmp_path / "ed.pem"
    other.write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(CryptoError, match="not a P-256 key"):
        crypto.load_key(other)
    with pytest.raises(CryptoError, match="cannot create"):
        crypto.save_key(tmp_path / "no-such-dir" / "k.pem", crypto.generate_key())

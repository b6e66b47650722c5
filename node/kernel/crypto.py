"""Keys, signatures, addresses and key files: ECDSA on NIST P-256 with SHA-256.

This is the only module that imports ``cryptography``. Formats, chosen so that any bank's
Java/JS/Go stack can produce them without this code:

- public key: SEC1 *compressed* point, 33 bytes (uncompressed 65-byte points are accepted on input);
- signature: ``r || s``, two 32-byte big-endian integers (64 bytes), over SHA-256 of the message.
  Signatures we make are normalised to low-S; both forms verify;
- address: ``"wc" + hex(sha256(compressed public key)[:20])`` (42 characters);
- key file: PKCS#8 PEM, optionally encrypted with a passphrase, written with mode 0600.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from node.errors import CryptoError

__all__ = [
    "SIGNATURE_SIZE",
    "PUBLIC_KEY_SIZE",
    "ADDRESS_PREFIX",
    "SigningKey",
    "PublicKey",
    "sha256",
    "generate_key",
    "address_of",
    "check_address",
    "verify",
    "save_key",
    "load_key",
]

SIGNATURE_SIZE = 64
PUBLIC_KEY_SIZE = 33
ADDRESS_PREFIX = "wc"
_CURVE = ec.SECP256R1()
_ECDSA = ec.ECDSA(hashes.SHA256())
# Order of the P-256 group, for range checks and low-S normalisation.
_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_HALF_N = _N // 2


def sha256(data: bytes) -> bytes:
    """SHA-256 digest of ``data``."""
    return hashlib.sha256(data).digest()


class PublicKey:
    """A P-256 public key; construct with :meth:`from_bytes`."""

    __slots__ = ("_key", "raw", "address")

    def __init__(self, key: ec.EllipticCurvePublicKey) -> None:
        self._key = key
        self.raw: bytes = key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
        )
        self.address: str = _address_from_raw(self.raw)

    @classmethod
    def from_bytes(cls, data: bytes) -> PublicKey:
        """Parse a SEC1 point (33 bytes compressed or 65 uncompressed); parsed keys are cached."""
        if not isinstance(data, (bytes, bytearray)):
            raise CryptoError(f"public key must be bytes, not {type(data).__name__}")
        return _parse_public_key(bytes(data))

    @classmethod
    def from_hex(cls, text: str) -> PublicKey:
        """Parse a hex-encoded SEC1 point."""
        return cls.from_bytes(_unhex(text, "public key"))

    def hex(self) -> str:
        return self.raw.hex()

    def verify(self, signature: bytes, message: bytes) -> bool:
        """True if ``signature`` (r||s) signs ``message``; raises CryptoError if it is malformed."""
        der = _signature_to_der(signature)
        try:
            self._key.verify(der, message, _ECDSA)
        except InvalidSignature:
            return False
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and other.raw == self.raw

    def __hash__(self) -> int:
        return hash(self.raw)

    def __repr__(self) -> str:
        return f"PublicKey({self.address})"


class SigningKey:
    """A P-256 private key. Never leaves the process that created or loaded it."""

    __slots__ = ("_key", "public_key")

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != _CURVE.name:
            raise CryptoError("only NIST P-256 (secp256r1) keys are supported")
        self._key = key
        self.public_key = PublicKey(key.public_key())

    @property
    def address(self) -> str:
        return self.public_key.address

    def sign(self, message: bytes) -> bytes:
        """Sign ``message`` (hashed with SHA-256); returns 64 bytes r||s with low S."""
        if not isinstance(message, (bytes, bytearray, memoryview)):
            raise CryptoError(f"message must be bytes, not {type(message).__name__}")
        r, s = decode_dss_signature(self._key.sign(bytes(message), _ECDSA))
        if s > _HALF_N:
            s = _N - s
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def private_bytes(self) -> bytes:
        """The raw 32-byte private scalar (for test vectors and interop tests only)."""
        return self._key.private_numbers().private_value.to_bytes(32, "big")

    @classmethod
    def from_private_bytes(cls, scalar: bytes) -> SigningKey:
        """Build a key from a raw 32-byte big-endian private scalar."""
        if not isinstance(scalar, (bytes, bytearray)) or len(scalar) != 32:
            raise CryptoError("a private key scalar is exactly 32 bytes")
        value = int.from_bytes(scalar, "big")
        if not 1 <= value < _N:
            raise CryptoError("private key scalar is out of range for P-256")
        return cls(ec.derive_private_key(value, _CURVE))

    def __repr__(self) -> str:
        return f"SigningKey({self.address})"


def generate_key() -> SigningKey:
    """A new random P-256 key."""
    return SigningKey(ec.generate_private_key(_CURVE))


@lru_cache(maxsize=65536)
def _parse_public_key(data: bytes) -> PublicKey:
    if len(data) not in (33, 65):
        raise CryptoError(f"public key must be a 33-byte compressed or 65-byte SEC1 point, got {len(data)} bytes")
    try:
        return PublicKey(ec.EllipticCurvePublicKey.from_encoded_point(_CURVE, data))
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise CryptoError(f"public key is not a valid P-256 point: {exc}") from None


def _signature_to_der(signature: bytes) -> bytes:
    if not isinstance(signature, (bytes, bytearray)):
        raise CryptoError(f"signature must be bytes, not {type(signature).__name__}")
    if len(signature) != SIGNATURE_SIZE:
        raise CryptoError(f"signature must be {SIGNATURE_SIZE} bytes (r||s), got {len(signature)}")
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    if not (1 <= r < _N and 1 <= s < _N):
        raise CryptoError("signature r or s is out of range for P-256")
    return encode_dss_signature(r, s)


def _address_from_raw(raw: bytes) -> str:
    return ADDRESS_PREFIX + hashlib.sha256(raw).digest()[:20].hex()


def address_of(public_key: bytes | PublicKey) -> str:
    """The account address of a public key (raw SEC1 bytes or a PublicKey)."""
    if isinstance(public_key, PublicKey):
        return public_key.address
    return PublicKey.from_bytes(public_key).address


def check_address(text: object) -> str:
    """Return ``text`` if it is a well-formed address, else raise CryptoError."""
    if not isinstance(text, str):
        raise CryptoError(f"address must be a string, not {type(text).__name__}")
    body = text[len(ADDRESS_PREFIX):]
    if (
        len(text) != len(ADDRESS_PREFIX) + 40
        or not text.startswith(ADDRESS_PREFIX)
        or body != body.lower()
        or not _is_hex(body)
    ):
        raise CryptoError(f"malformed address {text[:60]!r}: expected 'wc' followed by 40 lowercase hex digits")
    return text


def verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """True if ``signature`` by ``public_key`` (SEC1 bytes) signs ``message``.

    Raises CryptoError when the key or signature is malformed (as opposed to merely wrong).
    """
    return PublicKey.from_bytes(public_key).verify(signature, message)


def save_key(path: str | os.PathLike[str], key: SigningKey, passphrase: bytes | None = None) -> None:
    """Write ``key`` as PKCS#8 PEM with mode 0600; refuses to overwrite an existing file."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    pem = key._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    target = Path(path)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise CryptoError(f"key file {target} already exists; refusing to overwrite a key") from None
    except OSError as exc:
        raise CryptoError(f"cannot create key file {target}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())


def load_key(path: str | os.PathLike[str], passphrase: bytes | None = None) -> SigningKey:
    """Read a PEM key file written by :func:`save_key` (or any PKCS#8/SEC1 P-256 PEM)."""
    target = Path(path)
    try:
        pem = target.read_bytes()
    except OSError as exc:
        raise CryptoError(f"cannot read key file {target}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(pem, password=passphrase or None)
    except TypeError as exc:
        # cryptography says "Password was not given but private key is encrypted" and the reverse.
        raise CryptoError(f"key file {target}: {exc}") from None
    except (ValueError, UnsupportedAlgorithm):
        raise CryptoError(
            f"key file {target} is not a readable PEM private key (wrong passphrase, or not a key file)"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CryptoError(f"key file {target} holds a {type(key).__name__}, not a P-256 key")
    return SigningKey(key)


def _unhex(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise CryptoError(f"{what} must be a hex string, not {type(text).__name__}")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise CryptoError(f"{what} is not valid hex") from None


def _is_hex(text: str) -> bool:
    try:
        bytes.fromhex(text)
    except ValueError:
        return False
    return len(text) % 2 == 0

"""Canonical business keys: the one place a document's key is normalised, hashed or looked up.

Why: a document id that hashes the raw strings lets one paper invoice become many documents
(``"INV-001"``, ``"inv-001 "``, ``"INV‑001"`` with U+2011, ``"INV-001\\u200b"`` ...), each able to
back its own financing. Every path that hashes or looks up a key (anchoring, issuance, the RPC,
proof verification, the CLI and the demo) goes through :func:`document_key` / :func:`document_id`.

Rules (docs/LEDGER.md, "Documents"):

- text (a document ``number``, a registration id of kind ``other``): Unicode NFKC (full-width
  forms become ASCII); control characters (category Cc) refused; format characters (category Cf:
  zero-width space and joiners, BOM, soft hyphen, bidi marks) removed; every dash or hyphen
  look-alike (category Pd, minus signs) becomes ``-``; whitespace runs become one space and the
  ends are trimmed; case folded; NFKC again (folding can denormalise). The result is idempotent.
- ``uscc``: China's Unified Social Credit Code (统一社会信用代码, GB 32100-2015): the text rule
  without case folding, spaces and dashes dropped, upper case; 18 characters of
  ``0-9 A-H J-N P-R T U W-Y`` whose 18th is the check character of the first 17.
- ``lei``: ISO 17442 Legal Entity Identifier: 20 letters and digits, upper case, spaces dropped;
  ISO 7064 MOD 97-10 over the whole code gives 1.
- ``other``: the text rule. A value that is a valid USCC or LEI is refused under ``other``, so no
  id can be anchored twice by declaring another kind.

Errors are :class:`LedgerError` with ``INVALID_BUSINESS_KEY`` (bad text) or ``INVALID_REG_ID`` (a
registration id that fails its kind's rule); the message shows the canonical form.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import NamedTuple

from node.kernel import codec
from node.ledger.codes import Code, LedgerError

__all__ = [
    "DOC_TYPES",
    "MAX_KEY_CHARS",
    "REG_KINDS",
    "BusinessKey",
    "canonical_reg_id",
    "canonical_text",
    "document_id",
    "document_key",
    "infer_reg_kind",
    "lei_valid",
    "uscc_check_char",
    "uscc_valid",
]

DOC_TYPES = ("invoice", "contract", "delivery_note", "warehouse_receipt")
REG_KINDS = ("uscc", "lei", "other")
MAX_KEY_CHARS = 128

# Dash look-alikes that are not in category Pd (which covers hyphen, en/em dash, U+2011, ...).
_EXTRA_DASHES = frozenset("\u2212\u02d7\u2796\ufe63\uff0d\u2043")
_WHITESPACE = re.compile(r"\s+")


def _is_dash(ch: str) -> bool:
    return ch in _EXTRA_DASHES or unicodedata.category(ch) == "Pd"


def _shown(text: str) -> str:
    """``text`` quoted, with any character a reader can't see written as its code point."""
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        out.append(f"\\u{ord(ch):04x}" if cat in ("Cc", "Cf", "Zl", "Zp") else ch)
    return "'" + "".join(out) + "'"


def _fold_layout(value: str) -> str:
    """NFKC, Cf removed, dashes unified, whitespace collapsed; raises on control characters."""
    text = unicodedata.normalize("NFKC", value)
    controls = [ch for ch in text if unicodedata.category(ch) == "Cc"]
    if controls:
        cleaned = "".join(ch for ch in text if unicodedata.category(ch) != "Cc")
        shown = _shown(canonical_text(cleaned, "value")) if cleaned.strip() else "empty"
        raise ValueError(
            f"contains control character U+{ord(controls[0]):04X}, which a business key can't hold; "
            f"without it the canonical form would be {shown}"
        )
    text = "".join("-" if _is_dash(ch) else ch for ch in text if unicodedata.category(ch) != "Cf")
    return _WHITESPACE.sub(" ", text).strip()


def canonical_text(value: str, field: str) -> str:
    """The canonical form of a key's text part (``field`` names it in errors)."""
    try:
        text = _fold_layout(value)
    except ValueError as exc:
        raise LedgerError(Code.INVALID_BUSINESS_KEY, f"{field} {_shown(value)} {exc}") from None
    text = unicodedata.normalize("NFKC", text.casefold())
    text = _WHITESPACE.sub(" ", text).strip()  # folding never adds spaces; keep it exact anyway
    if not text:
        raise LedgerError(
            Code.INVALID_BUSINESS_KEY, f"{field} {_shown(value)} is empty once spaces and invisible characters are removed"
        )
    if len(text) > MAX_KEY_CHARS:
        raise LedgerError(
            Code.INVALID_BUSINESS_KEY, f"{field} is {len(text)} characters in canonical form; at most {MAX_KEY_CHARS}"
        )
    return text


# -- registration ids ---------------------------------------------------------------------------

# GB 32100-2015: 31 characters (no I, O, S, V, Z), weights 3^i mod 31 for positions 1..17.
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {ch: i for i, ch in enumerate(_USCC_CHARS)}
_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))


def uscc_check_char(first17: str) -> str:
    """The 18th character of a USCC whose first 17 are ``first17`` (GB 32100-2015, section 5)."""
    total = sum(_USCC_VALUE[ch] * weight for ch, weight in zip(first17, _USCC_WEIGHTS, strict=True))
    return _USCC_CHARS[(31 - total % 31) % 31]


def uscc_valid(code: str) -> bool:
    return (len(code) == 18 and all(ch in _USCC_VALUE for ch in code)
            and uscc_check_char(code[:17]) == code[17])


def lei_valid(code: str) -> bool:
    """ISO 17442: 20 upper-case letters/digits, ISO 7064 MOD 97-10 (letters A=10 ... Z=35) gives 1."""
    if len(code) != 20 or not code.isascii() or not code.isalnum() or code != code.upper():
        return False
    return int("".join(str(int(ch, 36)) for ch in code)) % 97 == 1


def _compact(value: str) -> str:
    """The USCC/LEI layout rule: the text rule, then no spaces or dashes, upper case."""
    return _fold_layout(value).replace(" ", "").replace("-", "").upper()


def canonical_reg_id(value: str, kind: str) -> str:
    """The canonical form of a registration id of ``kind`` (one of :data:`REG_KINDS`)."""
    if kind == "other":
        text = canonical_text(value, "issuer_reg_id")
        try:
            compact = _compact(value)
        except ValueError:
            compact = ""
        for other, valid in (("uscc", uscc_valid), ("lei", lei_valid)):
            if valid(compact):
                raise LedgerError(
                    Code.INVALID_REG_ID,
                    f"issuer_reg_id {_shown(value)} is a valid {other.upper()} ({compact}); declare issuer_reg_kind {other!r}",
                )
        return text
    try:
        code = _compact(value)
    except ValueError as exc:
        raise LedgerError(Code.INVALID_BUSINESS_KEY, f"issuer_reg_id {_shown(value)} {exc}") from None
    if kind == "uscc":
        if len(code) != 18 or any(ch not in _USCC_VALUE for ch in code):
            raise LedgerError(
                Code.INVALID_REG_ID,
                f"issuer_reg_id {_shown(value)} (canonical {code!r}) is not a USCC: it needs 18 characters of "
                f"{_USCC_CHARS} (no I, O, S, V, Z)",
            )
        expected = uscc_check_char(code[:17])
        if code[17] != expected:
            raise LedgerError(
                Code.INVALID_REG_ID,
                f"issuer_reg_id {code!r} fails the GB 32100-2015 check: its 18th character should be "
                f"{expected!r}, not {code[17]!r}; check the code for a typo",
            )
        return code
    if kind == "lei":
        if not lei_valid(code):
            raise LedgerError(
                Code.INVALID_REG_ID,
                f"issuer_reg_id {_shown(value)} (canonical {code!r}) is not a valid LEI (ISO 17442: 20 letters "
                "and digits whose MOD 97-10 check gives 1)",
            )
        return code
    raise LedgerError(Code.INVALID_REG_ID, f"issuer_reg_kind {kind[:20]!r} is unknown; use one of {', '.join(REG_KINDS)}")


def infer_reg_kind(value: str) -> str:
    """The kind a registration id must have been anchored under (kinds are disjoint): for look-ups
    that don't name one."""
    try:
        compact = _compact(value)
    except ValueError:
        return "other"
    if uscc_valid(compact):
        return "uscc"
    if lei_valid(compact):
        return "lei"
    return "other"


# -- the key and its id -------------------------------------------------------------------------

class BusinessKey(NamedTuple):
    doc_type: str
    number: str
    issuer_reg_id: str
    issuer_reg_kind: str

    @property
    def id(self) -> str:
        """Hex SHA-256 of the canonical JSON list ``[doc_type, number, issuer_reg_id]``; the kind is
        left out because the kinds' canonical forms never coincide."""
        return hashlib.sha256(codec.encode([self.doc_type, self.number, self.issuer_reg_id])).hexdigest()

    def describe(self) -> str:
        return f"{self.doc_type} {self.number!r} of {self.issuer_reg_kind} {self.issuer_reg_id!r}"


def document_key(doc_type: str, number: str, issuer_reg_id: str, issuer_reg_kind: str | None = None) -> BusinessKey:
    """The canonical business key; ``issuer_reg_kind`` None infers it (look-ups only)."""
    if doc_type not in DOC_TYPES:
        raise LedgerError(Code.INVALID_BUSINESS_KEY, f"doc_type {doc_type[:40]!r} is unknown; use one of {', '.join(DOC_TYPES)}")
    kind = infer_reg_kind(issuer_reg_id) if issuer_reg_kind is None else issuer_reg_kind
    return BusinessKey(doc_type, canonical_text(number, "number"), canonical_reg_id(issuer_reg_id, kind), kind)


def document_id(doc_type: str, number: str, issuer_reg_id: str, issuer_reg_kind: str | None = None) -> str:
    """The id of the document with this business key, in whatever variant it is written."""
    return document_key(doc_type, number, issuer_reg_id, issuer_reg_kind).id

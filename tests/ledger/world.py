"""A small world to drive the ledger with real signed transactions, block by block.

``World`` holds committed state in memory (DictReader), a clock, and named accounts with
deterministic keys. ``do`` signs one transaction and executes it in its own block; ``ok`` and
``fails`` assert the outcome (``fails`` also checks that the refused transaction wrote nothing but
its replay record).
"""

from __future__ import annotations

from typing import Any

import msgspec

from node.kernel import chain, codec, crypto
from node.kernel.genesis import ChainParams, Genesis, GenesisAccount, GenesisAdmin
from node.ledger import BlockContext, DictReader, execute_block, genesis_state, queries
from node.ledger.model import key_tx
from node.ledger.state import ACC_KEY

CHAIN_ID = "wc-ledger-test"
T0 = 1_700_000_000_000
HOUR = 3_600_000
DAY = 24 * HOUR
CNY = "CNY"
GRACE = 3 * DAY
REG_ID = "91310000MA1FL2026R"  # a valid Unified Social Credit Code (GB 32100-2015 check character)

ROLES = {
    "core": "core", "core2": "core",
    "sup1": "supplier", "sup2": "supplier", "sup3": "supplier",
    "bank": "financier", "bank2": "financier",
    "reg": "regulator",
}


def key_of(name: str) -> crypto.SigningKey:
    return crypto.SigningKey.from_private_bytes(crypto.sha256(b"warrantchain-test-" + name.encode()))


class World:
    def __init__(self, roles: dict[str, str] | None = None) -> None:
        roles = ROLES if roles is None else roles
        self.keys = {name: key_of(name) for name in [*roles, "admin", "stranger", "v0"]}
        self.params = ChainParams(overdue_grace_ms=GRACE)
        v0 = self.keys["v0"]
        self.genesis = Genesis(
            chain_id=CHAIN_ID,
            genesis_time_ms=T0,
            validators=[chain.Validator(name="v0", pubkey=v0.public_key.hex(), address=v0.address)],
            admins=[GenesisAdmin(name="admin", address=self.addr("admin"), pubkey=self.keys["admin"].public_key.hex())],
            accounts=[self._account(name, role) for name, role in roles.items()],
            params=self.params,
        )
        writes, self.root = genesis_state(self.genesis)
        self.reader = DictReader(dict(writes))
        self.height = 0
        self.time = T0
        self.nonce = 0
        self.last_outcome: Any = None
        self.last_tx = ""
        self.log: list[tuple[int, list[chain.SignedTx]]] = []  # (block time, txs) of every block

    def _account(self, name: str, role: str) -> GenesisAccount:
        key = self.keys[name]
        return GenesisAccount(name=name, address=key.address, pubkey=key.public_key.hex(), role=role)  # type: ignore[arg-type]

    def addr(self, name: str) -> str:
        return self.keys[name].address

    # -- transactions and blocks ----------------------------------------------------------------

    def tx(self, who: str, kind: str, payload: dict[str, Any], **body: Any) -> chain.SignedTx:
        self.nonce += 1
        fields = {
            "chain_id": CHAIN_ID, "type": kind, "sender": self.addr(who), "nonce": self.nonce,
            "expires": self.time + HOUR, "payload": payload,
        }
        fields.update(body)
        return chain.sign_tx(self.keys[who], fields)

    def ctx(self) -> BlockContext:
        return BlockContext(height=self.height + 1, time_ms=self.time, chain_id=CHAIN_ID, params=self.params)

    def block(self, txs: list[chain.SignedTx]) -> list[dict[str, Any]]:
        """Execute and commit one block at the current time; returns the decoded results."""
        outcome = execute_block(self.reader, txs, self.ctx())
        self.log.append((self.time, list(txs)))
        self.reader.commit(outcome.writes)
        self.height += 1
        self.root = outcome.state_root
        self.last_outcome = outcome
        return [codec.decode(result) for result in outcome.results]

    def do(self, who: str, kind: str, **payload: Any) -> dict[str, Any]:
        tx = self.tx(who, kind, payload)
        self.last_tx = tx.id_hex
        return self.block([tx])[0]

    def ok(self, who: str, kind: str, **payload: Any) -> list[dict[str, Any]]:
        result = self.do(who, kind, **payload)
        assert result["ok"], result
        assert result["code"] == "OK"
        return result["events"]  # type: ignore[no-any-return]

    def fails(self, code: str, who: str, kind: str, **payload: Any) -> str:
        """Assert the transaction is refused with ``code`` and changes nothing but its replay record."""
        return self.fails_tx(code, self.tx(who, kind, payload))

    def fails_tx(self, code: str, tx: chain.SignedTx) -> str:
        empty = execute_block(self.reader, [], self.ctx())
        result = self.block([tx])[0]
        assert not result["ok"], result
        assert result["code"] == code, result
        changed = {k: v for k, v in self.last_outcome.writes.items() if k not in (key_tx(tx.id), ACC_KEY)}
        assert changed == {k: v for k, v in empty.writes.items() if k != ACC_KEY}
        return result["message"]  # type: ignore[no-any-return]

    def advance(self, ms: int) -> None:
        self.time += ms

    # -- common set-ups -------------------------------------------------------------------------

    def anchor(self, who: str | None = None, number: str = "INV-1", total: int = 1_000_000, currency: str = CNY,
               seller: str = "sup1", buyer: str = "core", confirm: bool = True, file_hash: str | None = None) -> str:
        """Anchor an invoice of ``seller`` owed by ``buyer`` (signed by the seller unless ``who``);
        the buyer confirms it unless ``confirm`` is False. Returns the document id."""
        file_hash = crypto.sha256(f"{seller}/{number}".encode()).hex() if file_hash is None else file_hash
        events = self.ok(who or seller, "anchor_document", **self.anchor_payload(
            number, total=total, currency=currency, seller=seller, buyer=buyer, hash=file_hash))
        doc: str = events[0]["document"]
        if confirm and events[0]["status"] == "unconfirmed":
            self.ok(buyer, "confirm_document", doc=doc)
        return doc

    def anchor_payload(self, number: str = "INV-1", seller: str = "sup1", buyer: str = "core", **extra: Any) -> dict[str, Any]:
        payload = {"doc_type": "invoice", "number": number, "issuer_reg_id": REG_ID, "issuer_reg_kind": "uscc",
                   "hash": "ab" * 32, "total": 1_000_000, "currency": CNY, "seller": self.addr(seller),
                   "buyer": self.addr(buyer)}
        payload.update(extra)
        return payload

    def credit(self, limit: int = 10_000_000, core: str = "core", bank: str = "bank") -> None:
        self.ok(bank, "set_credit_line", core=self.addr(core), currency=CNY, limit=limit)

    def issue_payload(self, to: str = "sup1", amount: int = 1_000_000, doc: str | None = None,
                      maturity: int | None = None, bank: str = "bank", core: str = "core", **extra: Any) -> dict[str, Any]:
        if doc is None:
            doc = self.anchor(number=f"INV-{self.nonce}", total=amount, seller=to, buyer=core)
        maturity = self.time + 30 * DAY if maturity is None else maturity
        payload = {"to": self.addr(to), "amount": amount, "currency": CNY, "maturity": maturity,
                   "credit_line": self.addr(bank), "documents": [{"doc": doc, "amount": amount}],
                   "offer_expires": min(self.time + DAY, maturity)}
        payload.update(extra)
        return payload

    def issue(self, to: str = "sup1", amount: int = 1_000_000, accept: bool = True, core: str = "core",
              **kwargs: Any) -> str:
        """Issue (credit line and document made if needed) and optionally accept; returns the id."""
        if queries.get_credit_line(self.reader, self.addr(core), self.addr(kwargs.get("bank", "bank"))) is None:
            self.credit(core=core, bank=kwargs.get("bank", "bank"))
        events = self.ok(core, "issue", **self.issue_payload(to, amount, core=core, **kwargs))
        wid: str = events[0]["warrant"]
        if accept:
            self.ok(to, "accept", warrant=wid)
        return wid

    def transfer(self, who: str, wid: str, to: str, amount: int, accept: bool = True) -> tuple[str, str | None]:
        """Transfer ``amount`` of ``wid``; returns (offered child, remainder child or None)."""
        events = self.ok(who, "transfer", warrant=wid, to=self.addr(to), amount=amount,
                         offer_expires=self.time + DAY)
        children = events[0]["children"]
        if accept:
            self.ok(to, "accept", warrant=children[0])
        return children[0], (children[1] if len(children) > 1 else None)

    def split(self, who: str, wid: str, *amounts: int) -> list[str]:
        return self.ok(who, "split", warrant=wid, amounts=list(amounts))[0]["children"]  # type: ignore[no-any-return]

    # -- reading --------------------------------------------------------------------------------

    def warrant(self, wid: str) -> dict[str, Any]:
        found = queries.get_warrant(self.reader, wid)
        assert found is not None
        return found

    def status(self, wid: str) -> str:
        return self.warrant(wid)["status"]  # type: ignore[no-any-return]


ADMINS = ("admin", "admin2", "admin3")


def governed_world(quorum: int | None = 2, validators: int = 4, interval: int = 10) -> World:
    """A world with three alliance admins, ``quorum`` of them needed for a validator set change
    (None: the genesis leaves governance_quorum out), ``validators`` genesis validators ``v0``...,
    and keys ``v-new`` / ``v-rotated`` for validators to come."""
    w = World()
    for name in [*ADMINS[1:], *(f"v{i}" for i in range(validators)), "v-new", "v-rotated"]:
        w.keys[name] = key_of(name)
    params = msgspec.structs.replace(w.params, checkpoint_interval=interval)
    if quorum is not None:
        params = msgspec.structs.replace(params, governance_quorum=quorum)
    admins = [GenesisAdmin(name=n, address=w.addr(n), pubkey=w.keys[n].public_key.hex()) for n in ADMINS]
    members = [chain.Validator(name=f"v{i}", pubkey=w.keys[f"v{i}"].public_key.hex(), address=w.addr(f"v{i}"))
               for i in range(validators)]
    w.params = params
    w.genesis = msgspec.structs.replace(w.genesis, admins=admins, validators=members, params=params)
    writes, w.root = genesis_state(w.genesis)
    w.reader = DictReader(dict(writes))
    return w

"""A warrant 200 splits deep, committed in-process (tests.protocol.inprocess): a supplier transfers
1 fen of its warrant's remainder MAX_TRACE_DEPTH times, so the remainder ends that many levels
below the issuance, the receiver has as many offers waiting, and one block holds 50 of the
transactions a proof must show. The query budget tests (tests/rpc) and the explorer use it."""

from __future__ import annotations

import time
from pathlib import Path

from node.kernel import crypto
from node.ledger import queries
from node.ledger.model import warrant_id
from node.sdk.client import Wallet
from tests.protocol.inprocess import Chain

CHAIN_ID = "query-budget"
DEPTH = queries.MAX_TRACE_DEPTH


class DeepStory:
    def __init__(self, chain: Chain, supplier: Wallet, buyer: Wallet, issuance: str, document: str,
                 remainders: list[str]) -> None:
        self.chain, self.supplier, self.buyer = chain, supplier, buyer
        self.issuance, self.document, self.remainders = issuance, document, remainders

    def transfer_once_more(self) -> str:
        """One more level: the remainder's remainder (the tree is then DEPTH + 1 deep)."""
        tx = self.supplier.transfer(self.remainders[-1], self.buyer.address, 1, int(time.time() * 1000) + 10**8)
        self.chain.commit(tx)
        self.remainders.append(warrant_id(tx.id, 1))
        return self.remainders[-1]


def build_deep(path: Path) -> DeepStory:
    """The chain in ``path``; the caller closes ``story.chain.store``."""
    c = Chain(path, CHAIN_ID)
    core, supplier, buyer, bank = (Wallet(crypto.generate_key(), CHAIN_ID) for _ in range(4))
    c.commit(*(c.admin.register_account(w.address, role, role) for w, role in
               [(core, "core"), (supplier, "supplier"), (buyer, "supplier"), (bank, "financier")]))
    c.commit(bank.set_credit_line(core.address, 10**9))
    doc = c.commit(core.anchor_document("invoice", "N-1", "R-1", "ab" * 32, 10**6, seller=supplier.address,
                                        buyer=core.address, issuer_reg_kind="other"))[0]["events"][0]["document"]
    now = int(time.time() * 1000)
    issued = c.commit(core.issue(supplier.address, 10**6, now + 10**9, bank.address, [{"doc": doc, "amount": 10**6}],
                                 now + 10**8))[0]["events"][0]["warrant"]
    c.commit(supplier.accept(issued))
    remainders = [issued]
    for _ in range(DEPTH // 50):
        txs = []
        for _ in range(50):
            txs.append(supplier.transfer(remainders[-1], buyer.address, 1, now + 10**8))
            remainders.append(warrant_id(txs[-1].id, 1))
        c.commit(*txs)
    return DeepStory(c, supplier, buyer, issued, doc, remainders)
